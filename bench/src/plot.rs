//! PNG plots of the results (plotters, bitmap backend).
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`bench/assets/`, Bitstream Vera
//! licence), so plots render the same on a fresh machine with no fonts installed.

use std::error::Error;
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::{Cell, Results, Summary};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

type Res = Result<(), Box<dyn Error>>;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("embedded font is valid"));
    });
}

/// One colour per allocator, stable across plots; ours are drawn thicker.
fn style(i: usize, name: &str) -> ShapeStyle {
    const COLOURS: [RGBColor; 10] = [
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    let c = COLOURS[i % COLOURS.len()];
    let width = if name.starts_with("bareheap") { 4 } else { 2 };
    c.stroke_width(width)
}

/// Writes `throughput.png`, `efficiency.png`, `latency.png` and `trace.png` into `dir`.
///
/// # Errors
///
/// Any drawing or file error.
pub fn all(r: &Results, dir: &Path) -> Res {
    register_font();
    throughput(r, &dir.join("throughput.png"))?;
    efficiency(r, &dir.join("efficiency.png"))?;
    latency(r, &dir.join("latency.png"))?;
    replay(r, &dir.join("trace.png"))?;
    Ok(())
}

fn throughput(r: &Results, path: &Path) -> Res {
    let root = BitMapBackend::new(path, (1600, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let sizes = &r.meta.config.live_sizes;
    let (lo, hi) = (*sizes.first().unwrap_or(&1) as f64, *sizes.last().unwrap_or(&2) as f64);
    let mut ymax: f64 = 1.0;
    let mut ymin: f64 = f64::MAX;
    for a in &r.allocators {
        for &n in sizes {
            for realloc in [true, false] {
                if let Cell::Value(v, _) = r.throughput(&a.name, n, realloc) {
                    ymax = ymax.max(v / 1e6);
                    ymin = ymin.min(v / 1e6);
                }
            }
        }
    }
    // Leave the bottom of the plot empty for the legend.
    let ymin = if ymin == f64::MAX { 0.01 } else { (ymin * 0.12).max(0.001) };
    let panels = root.split_evenly((1, 2));
    for (panel, realloc) in panels.iter().zip([true, false]) {
        let title =
            if realloc { "Random actions, 20% reallocs" } else { "Random actions, no reallocs" };
        let mut chart = ChartBuilder::on(panel)
            .caption(title, (FAMILY, 26))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (lo * 0.8..hi * 1.25).log_scale(),
                (ymin..ymax * 1.5).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("live blocks N")
            .y_desc("million ops / s (median)")
            .label_style((FAMILY, 16))
            .axis_desc_style((FAMILY, 18))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (i, a) in r.allocators.iter().enumerate() {
            let pts: Vec<(f64, f64)> = sizes
                .iter()
                .filter_map(|&n| match r.throughput(&a.name, n, realloc) {
                    Cell::Value(v, _) => Some((n as f64, v / 1e6)),
                    _ => None,
                })
                .collect();
            if pts.is_empty() {
                continue;
            }
            let s = style(i, &a.name);
            chart
                .draw_series(LineSeries::new(pts.clone(), s))?
                .label(a.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], s));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, s.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, 14))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Horizontal bars, one per allocator with a value.
fn bars(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    r: &Results,
    title: &str,
    x_desc: &str,
    values: &[(usize, String, f64, String)],
) -> Res {
    let xmax = values.iter().map(|v| v.2).fold(0.0, f64::max).max(1e-9) * 1.25;
    let n = values.len().max(1);
    let names: Vec<String> = values.iter().map(|v| v.1.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(210)
        .build_cartesian_2d(0.0..xmax, -0.5..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_desc)
        .y_labels(n)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                names.get(n - 1 - i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17))
        .draw()?;
    let _ = r;
    for (row, (i, name, v, label)) in values.iter().enumerate() {
        // First allocator at the top.
        let y = (n - 1 - row) as f64;
        let s = style(*i, name);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.35), (*v, y + 0.35)],
            s.color.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            label.clone(),
            (*v + xmax * 0.01, y + 0.15),
            (FAMILY, 14),
        )))?;
    }
    Ok(())
}

fn efficiency(r: &Results, path: &Path) -> Res {
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let values: Vec<_> = r
        .allocators
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match r.efficiency(&a.name).0 {
            Cell::Value(v, _) => Some((i, a.name.clone(), v * 100.0, format!("{:.1}%", v * 100.0))),
            _ => None,
        })
        .collect();
    let c = &r.meta.config;
    let title = format!(
        "Heap efficiency: payload at first failure ({} KiB arena, {} seeds)",
        c.efficiency_arena / 1024,
        c.efficiency_seeds
    );
    bars(&root, r, &title, "live payload / arena (%)", &values)?;
    root.present()?;
    Ok(())
}

/// Workload 3: per allocator, the median over the rounds of each percentile (points joined by
/// a line) and a whisker from the rounds' min to their max (as the check table's "min–max"),
/// so that rounds that overlap show as overlapping whiskers. The allocators are spread a little
/// along x around each percentile so that their whiskers do not hide one another.
fn latency(r: &Results, path: &Path) -> Res {
    let root = BitMapBackend::new(path, (1800, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    let labels = ["p50", "p99", "p99.9", "p99.99", "max"];
    // The x offset of allocator `i` of `n` around each percentile.
    let n = r.allocators.len().max(1);
    let dodge = |i: usize| (i as f64 - (n - 1) as f64 / 2.0) * (0.6 / n as f64);
    for (k, (panel, kind)) in panels.iter().zip(["alloc", "free", "realloc"]).enumerate() {
        // (allocator, [(min, median, max)] per percentile)
        let mut all = Vec::new();
        for a in &r.allocators {
            if let Ok(p) = r.latency(&a.name, k) {
                let range = |s: Summary| (s.min.max(1.0), s.median.max(1.0), s.max.max(1.0));
                all.push((a.name.clone(), [p.p50, p.p99, p.p999, p.p9999, p.max].map(range)));
            }
        }
        // Headroom at the top for the legend.
        let ymax = all.iter().flat_map(|x| x.1).map(|v| v.2).fold(10.0, f64::max) * 300.0;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{kind} latency (N={})", r.meta.config.latency_n), (FAMILY, 24))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.45..4.45, (1.0..ymax).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(5)
            .x_label_formatter(&|x: &f64| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && (0.0..5.0).contains(&i) {
                    labels[i as usize].to_owned()
                } else {
                    String::new()
                }
            })
            .y_desc("time per operation (median and min–max over rounds)")
            .y_label_formatter(&|v: &f64| duration_label(*v))
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()?;
        for (name, vals) in &all {
            let i = r.allocators.iter().position(|a| &a.name == name).unwrap_or(0);
            let s = style(i, name);
            let thin = s.color.stroke_width(1);
            let x = |j: usize| j as f64 + dodge(i);
            let pts: Vec<(f64, f64)> = vals.iter().enumerate().map(|(j, v)| (x(j), v.1)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), s))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], s));
            // Whiskers: min to max over the rounds, with caps.
            let cap = 0.25 / n as f64;
            chart.draw_series(vals.iter().enumerate().flat_map(|(j, &(lo, _, hi))| {
                let x = x(j);
                [
                    PathElement::new(vec![(x, lo), (x, hi)], thin),
                    PathElement::new(vec![(x - cap, lo), (x + cap, lo)], thin),
                    PathElement::new(vec![(x - cap, hi), (x + cap, hi)], thin),
                ]
            }))?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, s.filled())))?;
        }
        if k == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FAMILY, 13))
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

/// "120 ns", "3 µs", "2 ms".
fn duration_label(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{} µs", ns / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn replay(r: &Results, path: &Path) -> Res {
    let root = BitMapBackend::new(path, (1600, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    let mut times = Vec::new();
    let mut footprints = Vec::new();
    for (i, a) in r.allocators.iter().enumerate() {
        let (c, fp) = r.replay(&a.name);
        if let Cell::Value(s, _) = c {
            times.push((i, a.name.clone(), s * 1e3, format!("{:.1} ms", s * 1e3)));
        }
        if let Some((f, peak, _)) = fp {
            if f > 0 {
                let x = f as f64 / peak as f64;
                footprints.push((i, a.name.clone(), x, format!("{x:.2}")));
            }
        }
    }
    bars(&panels[0], r, "Trace replay time (median)", "milliseconds (lower is better)", &times)?;
    bars(
        &panels[1],
        r,
        "Trace replay footprint",
        "arena high-water mark / peak live payload (lower is better)",
        &footprints,
    )?;
    root.present()?;
    Ok(())
}
