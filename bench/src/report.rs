//! Turns raw records into tables (Markdown, CSV), the JSON file and `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::jobs::{Config, Job, JobOutcome, Record};
use crate::run::{Latency, Outcome, Percentiles};
use crate::small;
use crate::timer::Clock;

/// Where and how a run was made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// UTC date of the run.
    pub date: String,
    /// `git describe` of the measured tree.
    pub commit: String,
    /// `rustc -V`.
    pub rustc: String,
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs.
    pub cores: usize,
    /// Hypervisor, if any (from `lscpu`).
    pub hypervisor: String,
    /// Load average (1 min) at the start and at the end.
    pub load: (f64, f64),
    /// Wall time of the whole run, seconds.
    pub duration_secs: f64,
    /// The per-operation clock.
    pub clock: Clock,
    /// Run sizes.
    pub config: Config,
    /// The replayed trace.
    pub trace: TraceInfo,
}

/// What the replayed trace contains.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceInfo {
    /// Path relative to the repository root.
    pub path: String,
    /// Events.
    pub events: u64,
    /// Of which allocations, frees, reallocs.
    pub counts: [u64; 3],
    /// Peak live payload bytes.
    pub peak_live: u64,
    /// File size.
    pub file_bytes: u64,
    /// Arena given to each allocator.
    pub arena: usize,
}

/// An allocator as listed in the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AllocInfo {
    /// Display name.
    pub name: String,
    /// Crate.
    pub krate: String,
    /// Crate version from `Cargo.lock`.
    pub version: String,
    /// How it is driven.
    pub note: String,
    /// Whether it allocates from the arena.
    pub uses_arena: bool,
}

/// Everything a run produced: written as `results.json`, read back by `bench report`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    /// Run metadata.
    pub meta: Meta,
    /// The allocators, in table order.
    pub allocators: Vec<AllocInfo>,
    /// One record per (allocator, job).
    pub records: Vec<Record>,
    /// Instruction counts of workload 5 under callgrind (empty in results from before they
    /// were measured).
    #[serde(default)]
    pub instructions: Vec<crate::instructions::InstrRecord>,
    /// Why the instruction counts are missing, if they are (e.g. no valgrind).
    #[serde(default)]
    pub instructions_skipped: Option<String>,
    /// Instruction counts of workload 1's steady phase under callgrind (empty in results from
    /// before they were measured, and when `instructions_skipped` says why).
    #[serde(default)]
    pub throughput_instructions: Vec<crate::instructions::ThroughputInstr>,
}

/// Median, min and max of a sample.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// Summarises a non-empty sample.
    pub fn of(xs: &[f64]) -> Summary {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Summary { median, min: v[0], max: v[n - 1] }
    }

    /// Half the min–max range, in percent of the median.
    pub fn spread_pct(&self) -> f64 {
        (self.max - self.min) / 2.0 / self.median * 100.0
    }
}

/// Each latency percentile summarised over several sets of percentiles: the repetitions of one
/// worker, or the rounds (worker processes) of one allocator.
#[derive(Clone, Copy, Debug)]
pub struct PercentilesSummary {
    /// Sets summarised (for workload 3's figures: rounds).
    pub sets: usize,
    /// Samples behind each set (those of the first).
    pub count: usize,
    /// Median.
    pub p50: Summary,
    /// 99th percentile.
    pub p99: Summary,
    /// 99.9th percentile.
    pub p999: Summary,
    /// 99.99th percentile.
    pub p9999: Summary,
    /// Slowest.
    pub max: Summary,
}

impl PercentilesSummary {
    /// Summarises each percentile over `sets`; None if there are none.
    pub fn of(sets: &[Percentiles]) -> Option<PercentilesSummary> {
        let first = sets.first()?;
        let over =
            |f: fn(&Percentiles) -> f64| Summary::of(&sets.iter().map(f).collect::<Vec<_>>());
        Some(PercentilesSummary {
            sets: sets.len(),
            count: first.count,
            p50: over(|p| p.p50),
            p99: over(|p| p.p99),
            p999: over(|p| p.p999),
            p9999: over(|p| p.p9999),
            max: over(|p| p.max),
        })
    }

    /// The median of each percentile.
    pub fn medians(&self) -> Percentiles {
        Percentiles {
            count: self.count,
            p50: self.p50.median,
            p99: self.p99.median,
            p999: self.p999.median,
            p9999: self.p9999.median,
            max: self.max.median,
        }
    }

    /// Workload 3's figures of op kind `k` (0 alloc, 1 free, 2 realloc) over the rounds of
    /// `l`, a round's figure for each percentile being the median over its repetitions. None
    /// if no round timed a repetition.
    pub fn runs(l: &Latency, k: usize) -> Option<PercentilesSummary> {
        let per_round: Vec<Percentiles> = l
            .rounds
            .iter()
            .filter_map(|r| {
                Some(Self::of(&r.reps.iter().map(|p| p[k].clone()).collect::<Vec<_>>())?.medians())
            })
            .collect();
        Self::of(&per_round)
    }

    /// The per-operation floor of op kind `k` (see [`crate::run::LatencyRound::floor`]) over
    /// the rounds of `l` that recorded one. None if none did.
    pub fn floors(l: &Latency, k: usize) -> Option<PercentilesSummary> {
        let per_round: Vec<Percentiles> =
            l.rounds.iter().map(|r| r.floor[k].clone()).filter(|p| p.count > 0).collect();
        Self::of(&per_round)
    }
}

/// A table cell: a number, or why there is none.
#[derive(Clone, Debug)]
pub enum Cell {
    /// A measured value (and its spread, if repeated).
    Value(f64, Option<f64>),
    /// Ran out of memory.
    Oom(String),
    /// Failed checks, panicked or crashed.
    Failed(String),
    /// Not measurable for this allocator.
    Na(String),
}

impl Cell {
    fn value(&self) -> Option<f64> {
        match self {
            Cell::Value(v, _) => Some(*v),
            _ => None,
        }
    }
}

fn cell_of<T>(o: &Outcome<T>, f: impl Fn(&T) -> Cell) -> Cell {
    match o {
        Outcome::Ok(t) => f(t),
        Outcome::Oom { at, of, phase } => Cell::Oom(format!("OOM at {phase} op {at}/{of}")),
        Outcome::Failed(e) => Cell::Failed(e.clone()),
        Outcome::Unavailable(e) => Cell::Na(e.clone()),
    }
}

impl Results {
    fn find(&self, alloc: &str, pred: impl Fn(&Job) -> bool) -> Option<&Record> {
        self.records.iter().find(|r| r.alloc == alloc && pred(&r.job))
    }

    /// Median ops/s of workload 1 for (`alloc`, `n`, `realloc`).
    pub fn throughput(&self, alloc: &str, n: usize, realloc: bool) -> Cell {
        let rec = self.find(alloc, |j| matches!(j, Job::Throughput { n: jn, realloc: jr, .. } if *jn == n && *jr == realloc));
        match rec.map(|r| &r.outcome) {
            Some(JobOutcome::Throughput(o)) => cell_of(o, |t| {
                let s = Summary::of(&t.ops_per_sec);
                Cell::Value(s.median, Some(s.spread_pct()))
            }),
            Some(JobOutcome::Crashed(e)) => Cell::Failed(e.clone()),
            _ => Cell::Na("not run".into()),
        }
    }

    /// Worker processes a workload-1 cell's repetitions came from, if it was run.
    pub fn throughput_workers(&self, alloc: &str, n: usize, realloc: bool) -> Option<usize> {
        self.find(alloc, |j| matches!(j, Job::Throughput { n: jn, realloc: jr, .. } if *jn == n && *jr == realloc))
            .map(|r| r.workers)
    }

    /// `(timed, total)` steady ops when the time budget cut a workload-1 cell short.
    pub fn throughput_cut(&self, alloc: &str, n: usize, realloc: bool) -> Option<(usize, usize)> {
        let rec = self.find(alloc, |j| matches!(j, Job::Throughput { n: jn, realloc: jr, .. } if *jn == n && *jr == realloc));
        match rec.map(|r| &r.outcome) {
            Some(JobOutcome::Throughput(Outcome::Ok(t))) if t.ops < t.of => Some((t.ops, t.of)),
            _ => None,
        }
    }

    /// `(timed, total)` steady ops when the time budget cut the latency run short.
    pub fn latency_cut(&self, alloc: &str) -> Option<(usize, usize)> {
        match self.find(alloc, |j| matches!(j, Job::Latency { .. })).map(|r| &r.outcome) {
            Some(JobOutcome::Latency(Outcome::Ok(l))) if l.ops < l.of => Some((l.ops, l.of)),
            _ => None,
        }
    }

    /// Mean efficiency of workload 2 (with the sample for min/max/stddev).
    pub fn efficiency(&self, alloc: &str) -> (Cell, Vec<f64>) {
        match self.find(alloc, |j| matches!(j, Job::Efficiency { .. })).map(|r| &r.outcome) {
            Some(JobOutcome::Efficiency(Outcome::Ok(e))) => {
                let mean = e.ratio.iter().sum::<f64>() / e.ratio.len() as f64;
                (Cell::Value(mean, None), e.ratio.clone())
            }
            Some(JobOutcome::Efficiency(o)) => (cell_of(o, |_| Cell::Na(String::new())), vec![]),
            Some(JobOutcome::Crashed(e)) => (Cell::Failed(e.clone()), vec![]),
            _ => (Cell::Na("not run".into()), vec![]),
        }
    }

    /// Latency percentiles of workload 3 for op kind `k` (0 alloc, 1 free, 2 realloc) over
    /// the rounds (see [`PercentilesSummary::runs`]).
    pub fn latency(&self, alloc: &str, k: usize) -> Result<PercentilesSummary, Cell> {
        self.latency_with(alloc, |l| PercentilesSummary::runs(l, k), "no timed repetition")
    }

    /// The per-operation floor of workload 3 for op kind `k` over the rounds (see
    /// [`PercentilesSummary::floors`]).
    pub fn latency_floor(&self, alloc: &str, k: usize) -> Result<PercentilesSummary, Cell> {
        self.latency_with(alloc, |l| PercentilesSummary::floors(l, k), "not recorded")
    }

    fn latency_with(
        &self,
        alloc: &str,
        summary: impl Fn(&Latency) -> Option<PercentilesSummary>,
        missing: &str,
    ) -> Result<PercentilesSummary, Cell> {
        match self.find(alloc, |j| matches!(j, Job::Latency { .. })).map(|r| &r.outcome) {
            Some(JobOutcome::Latency(Outcome::Ok(l))) => {
                summary(l).ok_or_else(|| Cell::Na(missing.into()))
            }
            Some(JobOutcome::Latency(o)) => Err(cell_of(o, |_| Cell::Na(String::new()))),
            Some(JobOutcome::Crashed(e)) => Err(Cell::Failed(e.clone())),
            _ => Err(Cell::Na("not run".into())),
        }
    }

    /// Replay time (seconds, median and spread) and footprint of workload 4.
    pub fn replay(&self, alloc: &str) -> (Cell, Option<(u64, u64, u64)>) {
        match self.find(alloc, |j| matches!(j, Job::Replay { .. })).map(|r| &r.outcome) {
            Some(JobOutcome::Replay(Outcome::Ok(r))) => {
                let s = Summary::of(&r.secs);
                (
                    Cell::Value(s.median, Some(s.spread_pct())),
                    Some((r.footprint, r.peak_live, r.events)),
                )
            }
            Some(JobOutcome::Replay(o)) => (cell_of(o, |_| Cell::Na(String::new())), None),
            Some(JobOutcome::Crashed(e)) => (Cell::Failed(e.clone()), None),
            _ => (Cell::Na("not run".into()), None),
        }
    }

    /// Median heap ops/s of workload 5 for (`alloc`, `program`), and the largest request.
    pub fn small_objects(&self, alloc: &str, program: small::Program) -> (Cell, Option<usize>) {
        let rec = self
            .find(alloc, |j| matches!(j, Job::SmallObjects { program: p, .. } if *p == program));
        match rec.map(|r| &r.outcome) {
            Some(JobOutcome::SmallObjects(Outcome::Ok(t))) => {
                let s = Summary::of(&t.ops_per_sec);
                (Cell::Value(s.median, Some(s.spread_pct())), Some(t.max_request))
            }
            Some(JobOutcome::SmallObjects(o)) => (cell_of(o, |_| Cell::Na(String::new())), None),
            Some(JobOutcome::Crashed(e)) => (Cell::Failed(e.clone()), None),
            _ => (Cell::Na("not run".into()), None),
        }
    }

    /// Every failure, with its reason, for the notes under the tables.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.records {
            let why = match &r.outcome {
                JobOutcome::Throughput(Outcome::Failed(e))
                | JobOutcome::Efficiency(Outcome::Failed(e))
                | JobOutcome::Latency(Outcome::Failed(e))
                | JobOutcome::Replay(Outcome::Failed(e))
                | JobOutcome::SmallObjects(Outcome::Failed(e)) => format!("FAILED: {e}"),
                JobOutcome::Crashed(e) => format!("FAILED (worker): {e}"),
                JobOutcome::Throughput(Outcome::Unavailable(e))
                | JobOutcome::Latency(Outcome::Unavailable(e))
                | JobOutcome::Replay(Outcome::Unavailable(e))
                | JobOutcome::SmallObjects(Outcome::Unavailable(e))
                    if r.alloc.starts_with("bareheap") && e != small::NOT_APPLICABLE =>
                {
                    format!("unavailable: {e}")
                }
                _ => continue,
            };
            out.push(format!("{} — {}: {why}", r.alloc, job_name(&r.job)));
        }
        out.dedup();
        out
    }
}

/// A short name for a job.
pub fn job_name(job: &Job) -> String {
    match job {
        Job::Throughput { n, realloc, .. } => {
            format!("random actions N={n}{}", if *realloc { "" } else { " (no realloc)" })
        }
        Job::Efficiency { .. } => "heap efficiency".into(),
        Job::Latency { .. } => "latency".into(),
        Job::Replay { .. } => "trace replay".into(),
        Job::SmallObjects { program, n, .. } => {
            format!("small objects: {} n={n}", program.name())
        }
    }
}

fn fmt_cell(c: &Cell, f: impl Fn(f64) -> String) -> String {
    match c {
        Cell::Value(v, Some(s)) => format!("{} ±{s:.0}%", f(*v)),
        Cell::Value(v, None) => f(*v),
        Cell::Oom(e) => e.clone(),
        Cell::Failed(_) => "**FAILED**".into(),
        Cell::Na(_) => "n/a".into(),
    }
}

fn ratio(v: &Cell, reference: &Cell) -> String {
    match (v.value(), reference.value()) {
        (Some(a), Some(b)) if b > 0.0 && a > 0.0 => {
            let x = a / b;
            if x >= 100.0 {
                format!("{x:.0}×")
            } else if x >= 0.1 {
                format!("{x:.2}×")
            } else {
                // Two significant digits for small ratios (0.0021×, not 0.00×).
                format!("{x:.*}×", (1.0 - x.log10().floor()) as usize)
            }
        }
        _ => "–".into(),
    }
}

/// Million ops/s: two decimals, three below 0.1 (so a slow heap does not show as 0.00).
fn mops(v: f64) -> String {
    let m = v / 1e6;
    if m < 0.1 {
        format!("{m:.3}")
    } else {
        format!("{m:.2}")
    }
}

/// A latency figure over rounds: the median, and the min–max over the rounds when there are
/// several.
pub fn with_range(s: &Summary, rounds: usize) -> String {
    if rounds > 1 {
        format!("{:.0} ({:.0}–{:.0})", s.median, s.min, s.max)
    } else {
        format!("{:.0}", s.median)
    }
}

/// The verdict of a latency check of `ours` against `peer` (lower is better): on the medians,
/// and whether the two ranges over the rounds overlap. Medians closer than the clock's
/// `resolution` (ns) are a tie: the clock cannot order them.
fn verdict(ours: &Summary, peer: &Summary, resolution: f64) -> &'static str {
    let overlap = ours.min <= peer.max && peer.min <= ours.max;
    if (ours.median - peer.median).abs() < resolution {
        return "tie (within the clock's resolution)";
    }
    match (ours.median <= peer.median, overlap) {
        (true, false) => "no worse",
        (true, true) => "no worse (ranges overlap)",
        (false, true) => "worse (ranges overlap)",
        (false, false) => "worse",
    }
}

/// The reference allocators of the ratio columns.
pub const REFERENCES: [&str; 2] = ["bareheap FirstFit", "talc"];

/// The flagship heap, compared call by call with [`FLAGSHIP_PEERS`] in the instruction tables.
pub const FLAGSHIP: &str = "bareheap Tlsf";

/// The peers the flagship's targets name.
pub const FLAGSHIP_PEERS: [&str; 2] = ["talc", "rlsf"];

/// A Markdown table; the first column is left-aligned, the others right-aligned (numbers).
fn table(out: &mut String, head: &[String], rows: &[Vec<String>]) {
    table_aligned(out, head, rows, false);
}

fn table_aligned(out: &mut String, head: &[String], rows: &[Vec<String>], all_left: bool) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let aligns: Vec<&str> = head
        .iter()
        .enumerate()
        .map(|(i, _)| if i == 0 || all_left { ":--" } else { "--:" })
        .collect();
    let _ = writeln!(out, "| {} |", aligns.join(" | "));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

impl Results {
    fn names(&self) -> Vec<&str> {
        self.allocators.iter().map(|a| a.name.as_str()).collect()
    }

    /// One table per [`REFERENCES`] allocator: every allocator's `cell(alloc, key)` divided
    /// by the reference's, for each key (a column of `head`).
    fn reference_tables<K: Copy>(
        &self,
        out: &mut String,
        head: &[String],
        keys: &[K],
        cell: impl Fn(&str, K) -> Cell,
    ) {
        for reference in REFERENCES {
            let refs: Vec<Cell> = keys.iter().map(|&k| cell(reference, k)).collect();
            if refs.iter().all(|c| c.value().is_none()) {
                let _ = writeln!(
                    out,
                    "_Ratios to {reference}: not available ({reference} has no result)._\n"
                );
                continue;
            }
            let _ = writeln!(out, "Relative to {reference} (ops/s ratio; > 1 is faster):\n");
            let rows: Vec<Vec<String>> = self
                .names()
                .iter()
                .map(|a| {
                    let mut r = vec![a.to_string()];
                    r.extend(keys.iter().zip(&refs).map(|(&k, rc)| ratio(&cell(a, k), rc)));
                    r
                })
                .collect();
            table(out, head, &rows);
        }
    }

    /// Workload 1 tables for one variant.
    pub fn throughput_tables(&self, realloc: bool) -> String {
        let sizes = &self.meta.config.live_sizes;
        let rounds = self.meta.config.throughput_rounds.min(self.meta.config.throughput_reps);
        let mut out = String::new();
        let mut head = vec!["Allocator".to_owned()];
        head.extend(sizes.iter().map(|n| format!("N={n}")));
        let rows: Vec<Vec<String>> = self
            .names()
            .iter()
            .map(|a| {
                let mut r = vec![a.to_string()];
                r.extend(sizes.iter().map(|&n| {
                    let cut =
                        if self.throughput_cut(a, n, realloc).is_some() { " †" } else { "" };
                    let alone = if rounds > 1
                        && self.throughput_workers(a, n, realloc) == Some(1)
                        && matches!(self.throughput(a, n, realloc), Cell::Value(..))
                    {
                        " ‡"
                    } else {
                        ""
                    };
                    fmt_cell(&self.throughput(a, n, realloc), mops) + cut + alone
                }));
                r
            })
            .collect();
        let c = &self.meta.config;
        let _ = writeln!(
            out,
            "Million operations per second (median of {} runs{}, ± half the min–max range); higher is better.\n",
            c.throughput_reps,
            match rounds {
                r if r > 1 => format!(
                    " in {r} rounds that interleave the allocators, one worker process per allocator and round"
                ),
                _ => String::new(),
            }
        );
        table(&mut out, &head, &rows);
        if rounds > 1 {
            let _ = writeln!(
                out,
                "‡ All {} runs in one worker: this allocator's worker would take over 1 s (its worker at the previous live-set size, the part above a process's fixed cost scaled by the size ratio), and repeating its verification pass in every round would cost more than the measurement. Such a cell samples one period of the machine only: compare it with care (for the first-fit and linked-list heaps it is tens of times off the others, far beyond the drift).\n",
                c.throughput_reps
            );
        }
        let cuts: Vec<String> = self
            .names()
            .iter()
            .flat_map(|a| sizes.iter().map(move |&n| (a, n)))
            .filter_map(|(a, n)| {
                self.throughput_cut(a, n, realloc)
                    .map(|(k, of)| format!("{a} at N={n}: {k} of {of}"))
            })
            .collect();
        if !cuts.is_empty() {
            let _ = writeln!(
                out,
                "† Time budget ({} s for the verification pass): only the first operations of the sequence were timed ({}). A younger heap is less fragmented, so these figures are if anything optimistic.\n",
                self.meta.config.budget_secs,
                cuts.join("; ")
            );
        }
        self.reference_tables(&mut out, &head, sizes, |a, n| self.throughput(a, n, realloc));
        out
    }

    /// Workload 5 table: ops/s, then ratios to each slab's backing heap and to the references.
    pub fn small_objects_table(&self) -> String {
        let programs = [small::Program::Tree, small::Program::BTree];
        let mut out = String::new();
        let mut head = vec!["Allocator".to_owned()];
        head.extend(programs.iter().map(|p| p.name().to_owned()));
        let rows: Vec<Vec<String>> = self
            .names()
            .iter()
            .map(|a| {
                let mut r = vec![a.to_string()];
                r.extend(programs.iter().map(|&p| fmt_cell(&self.small_objects(a, p).0, mops)));
                r
            })
            .collect();
        let largest = self
            .names()
            .iter()
            .flat_map(|a| programs.iter().filter_map(move |&p| self.small_objects(a, p).1))
            .max();
        let _ = writeln!(
            out,
            "Million heap operations (alloc + free + realloc) per second, collection work included (median of {} runs{}, ± half the min–max range); higher is better. Largest request: {} bytes.\n",
            self.meta.config.small_reps,
            match self.meta.config.small_rounds {
                r if r > 1 => format!(" in {r} rounds that interleave the allocators"),
                _ => String::new(),
            },
            largest.map_or("–".into(), |b| b.to_string())
        );
        table(&mut out, &head, &rows);
        let slabs: Vec<(&str, String)> = self
            .names()
            .iter()
            .filter_map(|a| {
                let inner = a.strip_prefix("bareheap Slab<")?.strip_suffix('>')?;
                Some((*a, format!("bareheap {inner}")))
            })
            .collect();
        if !slabs.is_empty() {
            let _ = writeln!(
                out,
                "Each slab against its own backing heap (ops/s ratio; > 1 is faster):\n"
            );
            let rows: Vec<Vec<String>> = slabs
                .iter()
                .map(|(a, backing)| {
                    let mut r = vec![format!("{a} / {backing}")];
                    r.extend(programs.iter().map(|&p| {
                        ratio(&self.small_objects(a, p).0, &self.small_objects(backing, p).0)
                    }));
                    r
                })
                .collect();
            table(&mut out, &head, &rows);
        }
        self.reference_tables(&mut out, &head, &programs, |a, p| self.small_objects(a, p).0);
        out.push_str(&self.instruction_tables(&programs, &slabs));
        out
    }

    /// The callgrind counts of workload 5 (see `crate::instructions`), if measured: per heap
    /// call of each kind, per heap operation, and each slab against its backing heap.
    fn instruction_tables(&self, programs: &[small::Program], slabs: &[(&str, String)]) -> String {
        use crate::instructions::HeapCalls;
        let mut out = String::new();
        if let Some(why) = &self.instructions_skipped {
            let _ = writeln!(out, "\n**Instruction counts: SKIPPED** ({why}).\n");
            return out;
        }
        if self.instructions.is_empty() {
            return out;
        }
        let find = |a: &str, p: small::Program| {
            self.instructions.iter().find(|r| r.alloc == a && r.program == p)
        };
        let n = self.instructions.first().map_or(0, |r| r.n);
        let _ = writeln!(
            out,
            "\nExact x86-64 instructions per heap call, the same programs run once more under \
             callgrind (n = {n}, same seed): the heap's own code, inclusive, not the router's. \
             Deterministic for this build; not cycles (cache misses are not in them). Lower \
             is better.\n"
        );
        let mut head = vec!["Allocator".to_owned()];
        for p in programs {
            for what in ["alloc", "free", "realloc", "per op"] {
                head.push(format!("{} {what}", p.name()));
            }
        }
        let per = |v: Option<f64>| v.map_or("–".to_owned(), |x| format!("{x:.1}"));
        let counts = |a: &str, p| -> Result<HeapCalls, String> {
            match find(a, p).map(|r| &r.outcome) {
                Some(Outcome::Ok(c)) => Ok(*c),
                Some(Outcome::Failed(_)) => Err("**FAILED**".into()),
                Some(_) => Err("n/a".into()),
                None => Err("–".into()),
            }
        };
        let rows: Vec<Vec<String>> = self
            .names()
            .iter()
            .map(|a| {
                let mut r = vec![a.to_string()];
                for &p in programs {
                    match counts(a, p) {
                        Ok(c) => r.extend([
                            per(c.alloc.per_call()),
                            per(c.free.per_call()),
                            per(c.realloc.per_call()),
                            per(c.per_op()),
                        ]),
                        Err(e) => r.extend(std::iter::repeat_n(e, 4)),
                    }
                }
                r
            })
            .collect();
        table(&mut out, &head, &rows);
        if !slabs.is_empty() {
            let _ = writeln!(
                out,
                "Each slab against its own backing heap (instructions per heap operation, \
                 ratio; < 1 is fewer):\n"
            );
            let mut head = vec!["Allocator".to_owned()];
            head.extend(programs.iter().map(|p| p.name().to_owned()));
            let rows: Vec<Vec<String>> = slabs
                .iter()
                .map(|(a, backing)| {
                    let mut r = vec![format!("{a} / {backing}")];
                    r.extend(programs.iter().map(|&p| {
                        match (
                            counts(a, p).ok().and_then(|c| c.per_op()),
                            counts(backing, p).ok().and_then(|c| c.per_op()),
                        ) {
                            (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
                            _ => "–".to_owned(),
                        }
                    }));
                    r
                })
                .collect();
            table(&mut out, &head, &rows);
        }
        out
    }

    /// The callgrind counts of workload 1's steady phase (see `crate::instructions`): per heap
    /// call of each kind and per operation, at each counted live-set size and variant, then the
    /// flagship's ratio to each of [`FLAGSHIP_PEERS`].
    pub fn throughput_instruction_tables(&self) -> String {
        use crate::instructions::HeapCalls;
        let mut out = String::new();
        if let Some(why) = &self.instructions_skipped {
            let _ = writeln!(out, "**Instruction counts: SKIPPED** ({why}).");
            return out;
        }
        if self.throughput_instructions.is_empty() {
            let _ = writeln!(out, "_Not measured in this run._");
            return out;
        }
        let mut sizes: Vec<usize> = self.throughput_instructions.iter().map(|r| r.n).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let find = |a: &str, n: usize, realloc: bool| {
            self.throughput_instructions
                .iter()
                .find(|r| r.alloc == a && r.n == n && r.realloc == realloc)
                .map(|r| &r.outcome)
        };
        let counts = |a: &str, n, realloc| -> Result<HeapCalls, String> {
            match find(a, n, realloc) {
                Some(Outcome::Ok(c)) => Ok(*c),
                Some(Outcome::Failed(_)) => Err("**FAILED**".into()),
                Some(Outcome::Oom { .. }) => Err("OOM".into()),
                Some(Outcome::Unavailable(_)) => Err("skipped".into()),
                None => Err("–".into()),
            }
        };
        let per = |v: Option<f64>| v.map_or("–".to_owned(), |x| format!("{x:.1}"));
        let _ = writeln!(
            out,
            "Exact x86-64 instructions per heap call in the steady phase (the timed operations; \
             not the fill, not the final frees), each program run once more under callgrind \
             (same seed, one pass): the heap's own code, inclusive. Deterministic for this \
             build; not cycles (cache misses and branch mispredictions are not in them). Lower \
             is better.\n"
        );
        let mut skipped = Vec::new();
        for realloc in [false, true] {
            let _ =
                writeln!(out, "{}:\n", if realloc { "With reallocs" } else { "Without reallocs" });
            let kinds: &[&str] = if realloc {
                &["alloc", "free", "realloc", "per op"]
            } else {
                &["alloc", "free", "per op"]
            };
            let mut head = vec!["Allocator".to_owned()];
            for n in &sizes {
                head.extend(kinds.iter().map(|k| format!("N={n} {k}")));
            }
            let rows: Vec<Vec<String>> = self
                .names()
                .iter()
                .map(|a| {
                    let mut r = vec![a.to_string()];
                    for &n in &sizes {
                        match counts(a, n, realloc) {
                            Ok(c) => {
                                r.push(per(c.alloc.per_call()));
                                r.push(per(c.free.per_call()));
                                if realloc {
                                    r.push(per(c.realloc.per_call()));
                                }
                                r.push(per(c.per_op()));
                            }
                            Err(e) => r.extend(std::iter::repeat_n(e, kinds.len())),
                        }
                        if let Some(Outcome::Unavailable(why)) = find(a, n, realloc) {
                            skipped.push(format!(
                                "{a} at N={n}{}: {why}",
                                if realloc { " with reallocs" } else { "" }
                            ));
                        }
                    }
                    r
                })
                .collect();
            table(&mut out, &head, &rows);
        }
        if !skipped.is_empty() {
            let _ = writeln!(out, "Skipped: {}.\n", skipped.join("; "));
        }
        let mut head = vec!["Ratio (instructions; < 1 is fewer)".to_owned()];
        for realloc in [false, true] {
            for n in &sizes {
                head.push(format!("N={n}{}", if realloc { " realloc" } else { "" }));
            }
        }
        let mut rows = Vec::new();
        for peer in FLAGSHIP_PEERS {
            for (what, pick) in [
                ("alloc", (|c: &HeapCalls| c.alloc.per_call()) as fn(&HeapCalls) -> Option<f64>),
                ("free", |c: &HeapCalls| c.free.per_call()),
                ("realloc", |c: &HeapCalls| c.realloc.per_call()),
                ("per op", |c: &HeapCalls| c.per_op()),
            ] {
                let mut r = vec![format!("{FLAGSHIP} / {peer}, {what}")];
                for realloc in [false, true] {
                    for &n in &sizes {
                        let x = counts(FLAGSHIP, n, realloc).ok().and_then(|c| pick(&c));
                        let y = counts(peer, n, realloc).ok().and_then(|c| pick(&c));
                        r.push(match (x, y) {
                            (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
                            _ => "–".to_owned(),
                        });
                    }
                }
                rows.push(r);
            }
        }
        table(&mut out, &head, &rows);
        out
    }

    /// Workload 2 table.
    pub fn efficiency_table(&self) -> String {
        let mut out = String::new();
        let head: Vec<String> =
            ["Allocator", "mean", "std dev", "min", "max", "× FirstFit", "× talc"]
                .map(String::from)
                .to_vec();
        let refs: Vec<Cell> = REFERENCES.iter().map(|r| self.efficiency(r).0).collect();
        let rows: Vec<Vec<String>> = self
            .names()
            .iter()
            .map(|a| {
                let (c, xs) = self.efficiency(a);
                let pct = |v: f64| format!("{:.1}%", v * 100.0);
                let mut r = vec![a.to_string(), fmt_cell(&c, pct)];
                if xs.is_empty() {
                    r.extend(["–", "–", "–"].map(String::from));
                } else {
                    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
                    let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64)
                        .sqrt();
                    let s = Summary::of(&xs);
                    r.extend([pct(sd), pct(s.min), pct(s.max)]);
                }
                r.extend(refs.iter().map(|rc| ratio(&c, rc)));
                r
            })
            .collect();
        let c = &self.meta.config;
        let _ = writeln!(
            out,
            "Live payload / arena size at the first failed allocation ({} KiB arena, mean over {} seeds); higher is better.\n",
            c.efficiency_arena / 1024,
            c.efficiency_seeds
        );
        table(&mut out, &head, &rows);
        out
    }

    /// Workload 3 tables, one per operation kind, then the per-operation floor and the
    /// flagship's checks against its peers.
    pub fn latency_tables(&self) -> String {
        let mut out = String::new();
        let c = &self.meta.config;
        let _ = writeln!(
            out,
            "Nanoseconds per operation at live-set N={} with reallocs; lower is better. {}; each worker times the same {} operations {} times on a fresh heap and takes, for each percentile, the median over its runs.{}\n",
            c.latency_n,
            match c.latency_rounds {
                r if r > 1 => format!("{r} rounds interleave the allocators (one worker process per allocator and round, in an order rotated by one each round)"),
                _ => "One worker process per allocator, one allocator after another".to_owned(),
            },
            c.latency_ops,
            c.latency_reps,
            if c.latency_rounds > 1 {
                " A cell is the median over the rounds; p99.99 and max also give the range over the rounds (min–max). A round that fails or runs out of memory is the allocator's result, and it is not run again."
            } else {
                ""
            }
        );
        for (k, kind) in ["alloc", "free", "realloc"].iter().enumerate() {
            let _ = writeln!(out, "**{kind}**\n");
            let head: Vec<String> = ["Allocator", "p50", "p99", "p99.9", "p99.99", "max", "rounds"]
                .map(String::from)
                .to_vec();
            let rows: Vec<Vec<String>> = self
                .names()
                .iter()
                .map(|a| {
                    let cut = if self.latency_cut(a).is_some() { " †" } else { "" };
                    let mut r = vec![format!("{a}{cut}")];
                    match self.latency(a, k) {
                        Ok(p) => {
                            r.extend([p.p50, p.p99, p.p999].map(|s| format!("{:.0}", s.median)));
                            r.extend([p.p9999, p.max].map(|s| with_range(&s, p.sets)));
                            r.push(p.sets.to_string());
                        }
                        Err(cell) => {
                            r.push(fmt_cell(&cell, |v| v.to_string()));
                            r.extend(["", "", "", "", ""].map(String::from));
                        }
                    }
                    r
                })
                .collect();
            table(&mut out, &head, &rows);
        }
        let _ = writeln!(
            out,
            "**Per-operation floor**: every run of a worker repeats the same operations on a fresh \
             heap; taking, for each operation, the fastest of the worker's {} runs keeps its own \
             cost and drops most preemptions and interrupts (which seldom hit the same operation \
             in every run). The maximum here is the slowest operation's own time, the figure a \
             worst-case bound is about; the maxima above are mostly the machine's. Median over \
             the rounds (min–max).\n",
            c.latency_reps
        );
        let head: Vec<String> = [
            "Allocator",
            "alloc p99.99",
            "alloc max",
            "free p99.99",
            "free max",
            "realloc p99.99",
            "realloc max",
        ]
        .map(String::from)
        .to_vec();
        let rows: Vec<Vec<String>> = self
            .names()
            .iter()
            .map(|a| {
                let mut r = vec![a.to_string()];
                for k in 0..3 {
                    match self.latency_floor(a, k) {
                        Ok(p) => r.extend([p.p9999, p.max].map(|s| with_range(&s, p.sets))),
                        Err(cell) => {
                            r.push(fmt_cell(&cell, |v| v.to_string()));
                            r.push(String::new());
                        }
                    }
                }
                r
            })
            .collect();
        table(&mut out, &head, &rows);
        let cuts: Vec<String> = self
            .names()
            .iter()
            .filter_map(|a| self.latency_cut(a).map(|(k, of)| format!("{a}: {k} of {of}")))
            .collect();
        if !cuts.is_empty() {
            let _ = writeln!(
                out,
                "† Time budget ({} s for the verification pass): only the first operations were timed ({}).\n",
                c.budget_secs,
                cuts.join("; ")
            );
        }
        out.push_str(&self.latency_checks());
        out
    }

    /// Issue 4's latency target, checked on the medians over rounds: the flagship's p99.99 and
    /// max (and the floor's max) of alloc and of free against each of [`FLAGSHIP_PEERS`].
    pub fn latency_checks(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "**{FLAGSHIP} against its peers** (target: p99.99 and max of alloc and of free no worse than rlsf's). Medians over the rounds, in ns (min–max over the rounds); ratio ≤ 1.00× is no worse; medians closer than the clock's resolution are a tie. \"ranges overlap\" means that the rounds of the two allocators overlap, so the rounds do not separate them. The plain figures include the machine's interruptions (a max is mostly one); the floor's are the operations' own (see above).\n"
        );
        let head: Vec<String> =
            ["Check", FLAGSHIP, "peer", "ratio", "verdict"].map(String::from).to_vec();
        let mut rows = Vec::new();
        for peer in FLAGSHIP_PEERS {
            for (k, kind) in ["alloc", "free"].iter().enumerate() {
                for (what, floor, pick) in [
                    ("p99.99", false, (|p: &PercentilesSummary| p.p9999) as fn(&_) -> Summary),
                    ("floor p99.99", true, |p: &PercentilesSummary| p.p9999),
                    ("max", false, |p: &PercentilesSummary| p.max),
                    ("floor max", true, |p: &PercentilesSummary| p.max),
                ] {
                    let get = |a: &str| {
                        if floor {
                            self.latency_floor(a, k)
                        } else {
                            self.latency(a, k)
                        }
                    };
                    let mut r = vec![format!("{kind} {what} vs {peer}")];
                    match (get(FLAGSHIP), get(peer)) {
                        (Ok(x), Ok(y)) => {
                            let (sx, sy) = (pick(&x), pick(&y));
                            r.push(with_range(&sx, x.sets));
                            r.push(with_range(&sy, y.sets));
                            r.push(ratio(
                                &Cell::Value(sx.median, None),
                                &Cell::Value(sy.median, None),
                            ));
                            r.push(verdict(&sx, &sy, self.meta.clock.resolution_ns()).into());
                        }
                        (x, y) => {
                            let shown = |c: Result<PercentilesSummary, Cell>| match c {
                                Ok(p) => with_range(&pick(&p), p.sets),
                                Err(c) => fmt_cell(&c, |v| v.to_string()),
                            };
                            r.extend([shown(x), shown(y), "–".into(), "not measured".into()]);
                        }
                    }
                    rows.push(r);
                }
            }
        }
        table(&mut out, &head, &rows);
        out
    }

    /// Workload 4 table.
    pub fn replay_table(&self) -> String {
        let mut out = String::new();
        let t = &self.meta.trace;
        let head: Vec<String> = [
            "Allocator",
            "time (ms)",
            "ns / event",
            "speed × FirstFit",
            "speed × talc",
            "footprint (KiB)",
            "footprint / peak live",
        ]
        .map(String::from)
        .to_vec();
        let refs: Vec<Cell> = REFERENCES.iter().map(|r| self.replay(r).0).collect();
        let rows: Vec<Vec<String>> = self
            .names()
            .iter()
            .map(|a| {
                let (c, fp) = self.replay(a);
                let mut r = vec![a.to_string(), fmt_cell(&c, |s| format!("{:.1}", s * 1e3))];
                r.push(
                    c.value().map_or("–".into(), |s| format!("{:.0}", s * 1e9 / t.events as f64)),
                );
                // Speed ratio: reference time / this time (> 1 is faster).
                r.extend(refs.iter().map(|rc| ratio(rc, &c)));
                match fp {
                    Some((f, peak, _)) if f > 0 => {
                        r.push(format!("{}", f / 1024));
                        r.push(format!("{:.2}", f as f64 / peak as f64));
                    }
                    Some(_) => r.extend(["n/a (own memory)", "–"].map(String::from)),
                    None => r.extend(["–", "–"].map(String::from)),
                }
                r
            })
            .collect();
        let _ = writeln!(
            out,
            "Replay of `{}` ({} events: {} alloc, {} free, {} realloc; peak live payload {} KiB; arena {} MiB). Time: median of {} runs. Footprint: span of all blocks ever returned (highest end minus lowest start).\n",
            t.path,
            t.events,
            t.counts[0],
            t.counts[1],
            t.counts[2],
            t.peak_live / 1024,
            t.arena >> 20,
            self.meta.config.replay_reps
        );
        table(&mut out, &head, &rows);
        out
    }

    /// The allocator list with versions and notes.
    pub fn versions_table(&self) -> String {
        let mut out = String::new();
        let head: Vec<String> =
            ["Allocator", "crate", "version", "how it is driven"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = self
            .allocators
            .iter()
            .map(|a| {
                vec![
                    a.name.clone(),
                    a.krate.clone(),
                    a.version.clone(),
                    if a.note.is_empty() {
                        "its `Heap` trait: allocate/deallocate/grow/shrink".into()
                    } else {
                        a.note.clone()
                    },
                ]
            })
            .collect();
        table_aligned(&mut out, &head, &rows, true);
        out
    }

    /// One line per allocator with the headline figure of each workload.
    pub fn summary_table(&self) -> String {
        let mut out = String::new();
        let sizes = &self.meta.config.live_sizes;
        let (small, large) = (
            sizes.get(1).or(sizes.first()).copied().unwrap_or(0),
            sizes.last().copied().unwrap_or(0),
        );
        let head: Vec<String> = vec![
            "Allocator".into(),
            format!("Mops/s N={small}"),
            format!("Mops/s N={large}"),
            "efficiency".into(),
            "alloc p99.99 (ns)".into(),
            "free p99.99 (ns)".into(),
            "alloc max, floor (ns)".into(),
            "free max, floor (ns)".into(),
            "trace (ms)".into(),
            "trace footprint / peak".into(),
        ];
        let rows: Vec<Vec<String>> = self
            .names()
            .iter()
            .map(|a| {
                let short = |c: &Cell, f: &dyn Fn(f64) -> String| match c {
                    Cell::Value(v, _) => f(*v),
                    Cell::Oom(_) => "OOM".into(),
                    Cell::Failed(_) => "**FAILED**".into(),
                    Cell::Na(_) => "n/a".into(),
                };
                let mut r = vec![a.to_string()];
                for n in [small, large] {
                    let cut = if self.throughput_cut(a, n, true).is_some() { " †" } else { "" };
                    r.push(short(&self.throughput(a, n, true), &mops) + cut);
                }
                r.push(short(&self.efficiency(a).0, &|v| format!("{:.1}%", v * 100.0)));
                for k in [0, 1] {
                    r.push(match self.latency(a, k) {
                        Ok(p) => format!("{:.0}", p.p9999.median),
                        Err(c) => short(&c, &|v| v.to_string()),
                    });
                }
                for k in [0, 1] {
                    r.push(match self.latency_floor(a, k) {
                        Ok(p) => format!("{:.0}", p.max.median),
                        Err(c) => short(&c, &|v| v.to_string()),
                    });
                }
                let (c, fp) = self.replay(a);
                r.push(short(&c, &|s| format!("{:.1}", s * 1e3)));
                r.push(match fp {
                    Some((f, peak, _)) if f > 0 => format!("{:.2}", f as f64 / peak as f64),
                    Some(_) => "n/a".into(),
                    None => "–".into(),
                });
                r
            })
            .collect();
        let _ = writeln!(out, "Throughput with reallocs (median; † = time budget, see section 1); efficiency at first failure; latency at N={} (medians over the rounds; max: the per-operation floor, see section 3); trace replay time (median) and footprint.\n", self.meta.config.latency_n);
        table(&mut out, &head, &rows);
        out
    }

    /// The machine and run description.
    pub fn machine(&self) -> String {
        let m = &self.meta;
        format!(
            "- CPU: {} ({} logical CPUs{}), {}\n- Run: {} mode, {}, commit `{}`, {:.0} s wall time, load average {:.2} at start and {:.2} at end\n- Per-operation clock: {} at {:.3} ticks/ns, resolution {:.1} ns, empty-measurement overhead {:.1} ns (subtracted)\n- Throughput and replay clock: {}\n",
            m.cpu,
            m.cores,
            if m.hypervisor.is_empty() { String::new() } else { format!(", {} guest", m.hypervisor) },
            m.rustc,
            m.config.mode,
            m.date,
            m.commit,
            m.duration_secs,
            m.load.0,
            m.load.1,
            m.clock.source,
            m.clock.ticks_per_ns,
            m.clock.resolution_ns(),
            m.clock.overhead_ns(),
            crate::timer::CpuStopwatch::SOURCE
        )
    }

    /// All tables, as printed on the terminal and written to `results.md`.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Host benchmark results ({} run)\n\n{}",
            self.meta.config.mode,
            self.machine()
        );
        let _ = writeln!(out, "## Summary\n\n{}", self.summary_table());
        let _ = writeln!(out, "## Allocators\n\n{}", self.versions_table());
        let _ = writeln!(
            out,
            "## 1. Random actions, with reallocs\n\n{}",
            self.throughput_tables(true)
        );
        let _ = writeln!(
            out,
            "## 1b. Random actions, no reallocs\n\n{}",
            self.throughput_tables(false)
        );
        let _ = writeln!(out, "## 2. Heap efficiency\n\n{}", self.efficiency_table());
        let _ = writeln!(out, "## 3. Latency\n\n{}", self.latency_tables());
        let _ = writeln!(out, "## 4. Real trace replay\n\n{}", self.replay_table());
        let _ = writeln!(out, "## 5. Small objects\n\n{}", self.small_objects_table());
        let problems = self.problems();
        if !problems.is_empty() {
            let _ = writeln!(out, "## Failures and unavailable heaps\n");
            for p in problems {
                let _ = writeln!(out, "- {p}");
            }
            out.push('\n');
        }
        out
    }

    /// Writes `results.json`, `results.md` and the CSV files into `dir`.
    pub fn write_files(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(self)? + "\n")?;
        std::fs::write(dir.join("results.md"), self.markdown())?;
        self.write_csv(dir).map_err(std::io::Error::other)
    }

    fn write_csv(&self, dir: &Path) -> Result<(), csv::Error> {
        let status = |c: &Cell| match c {
            Cell::Value(..) => "ok".to_owned(),
            Cell::Oom(e) => e.clone(),
            Cell::Failed(e) => format!("FAILED: {e}"),
            Cell::Na(e) => format!("n/a: {e}"),
        };
        let mut w = csv::Writer::from_path(dir.join("throughput.csv"))?;
        w.write_record([
            "allocator",
            "realloc",
            "live_n",
            "status",
            "median_ops_per_sec",
            "min",
            "max",
            "reps",
        ])?;
        for a in self.names() {
            for realloc in [true, false] {
                for &n in &self.meta.config.live_sizes {
                    let rec = self.find(a, |j| matches!(j, Job::Throughput { n: jn, realloc: jr, .. } if *jn == n && *jr == realloc));
                    let (med, min, max, reps) = match rec.map(|r| &r.outcome) {
                        Some(JobOutcome::Throughput(Outcome::Ok(t))) => {
                            let s = Summary::of(&t.ops_per_sec);
                            (
                                s.median.to_string(),
                                s.min.to_string(),
                                s.max.to_string(),
                                t.ops_per_sec.len().to_string(),
                            )
                        }
                        _ => Default::default(),
                    };
                    let st = status(&self.throughput(a, n, realloc));
                    w.write_record([
                        a,
                        &realloc.to_string(),
                        &n.to_string(),
                        &st,
                        &med,
                        &min,
                        &max,
                        &reps,
                    ])?;
                }
            }
        }
        w.flush()?;
        let mut w = csv::Writer::from_path(dir.join("efficiency.csv"))?;
        w.write_record(["allocator", "status", "mean", "per_seed"])?;
        for a in self.names() {
            let (c, xs) = self.efficiency(a);
            let per: Vec<String> = xs.iter().map(|x| format!("{x:.5}")).collect();
            w.write_record([
                a,
                &status(&c),
                &c.value().map_or(String::new(), |v| v.to_string()),
                &per.join(" "),
            ])?;
        }
        w.flush()?;
        let mut w = csv::Writer::from_path(dir.join("latency.csv"))?;
        let head = [
            "allocator",
            "op",
            "status",
            "samples_per_run",
            "rounds",
            "p50_ns",
            "p99_ns",
            "p99_9_ns",
            "p99_99_ns",
            "max_ns",
            "p99_99_min_ns",
            "p99_99_max_ns",
            "max_min_ns",
            "max_max_ns",
            "floor_p99_99_ns",
            "floor_max_ns",
        ];
        w.write_record(head)?;
        for a in self.names() {
            for (k, kind) in ["alloc", "free", "realloc"].iter().enumerate() {
                let mut row = vec![a.to_owned(), (*kind).to_owned()];
                match self.latency(a, k) {
                    Ok(p) => {
                        let f = |x: f64| format!("{x:.1}");
                        row.extend(["ok".to_owned(), p.count.to_string(), p.sets.to_string()]);
                        row.extend([p.p50, p.p99, p.p999, p.p9999, p.max].map(|s| f(s.median)));
                        row.extend([p.p9999.min, p.p9999.max, p.max.min, p.max.max].map(f));
                        let floor = self.latency_floor(a, k).ok();
                        row.extend([
                            floor.map_or(String::new(), |p| f(p.p9999.median)),
                            floor.map_or(String::new(), |p| f(p.max.median)),
                        ]);
                    }
                    Err(c) => row.push(status(&c)),
                }
                row.resize(head.len(), String::new());
                w.write_record(&row)?;
            }
        }
        w.flush()?;
        let mut w = csv::Writer::from_path(dir.join("trace.csv"))?;
        w.write_record([
            "allocator",
            "status",
            "median_secs",
            "footprint_bytes",
            "peak_live_bytes",
            "events",
        ])?;
        for a in self.names() {
            let (c, fp) = self.replay(a);
            let (f, p, e) = fp
                .map_or((String::new(), String::new(), String::new()), |(f, p, e)| {
                    (f.to_string(), p.to_string(), e.to_string())
                });
            w.write_record([
                a,
                &status(&c),
                &c.value().map_or(String::new(), |v| v.to_string()),
                &f,
                &p,
                &e,
            ])?;
        }
        w.flush()?;
        Ok(())
    }

    /// Renders `BENCHMARKS.md` from its template: `{{name}}` placeholders are replaced by the
    /// generated sections; `{{<core>}}` (`cortex-m3`, ...) by the on-target results of that
    /// core in `on_target` (name, markdown).
    pub fn render(&self, template: &str, on_target: &[(&str, String)]) -> String {
        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        vars.insert("machine", self.machine());
        vars.insert("versions", self.versions_table());
        vars.insert("summary", self.summary_table());
        vars.insert("throughput_realloc", self.throughput_tables(true));
        vars.insert("throughput_plain", self.throughput_tables(false));
        vars.insert("throughput_instructions", self.throughput_instruction_tables());
        vars.insert("efficiency", self.efficiency_table());
        vars.insert("latency", self.latency_tables());
        vars.insert("replay", self.replay_table());
        vars.insert("small_objects", self.small_objects_table());
        for (core, md) in on_target {
            vars.insert(core, md.clone());
        }
        let problems = self.problems();
        vars.insert(
            "problems",
            if problems.is_empty() {
                "None: every allocator passed every pattern check.\n".to_owned()
            } else {
                problems.iter().map(|p| format!("- {p}\n")).collect()
            },
        );
        let mut out = template.to_owned();
        for (k, v) in vars {
            out = out.replace(&format!("{{{{{k}}}}}"), v.trim_end());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::ThroughputInstr;

    #[test]
    fn summary_of_even_and_odd_samples() {
        let s = Summary::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert!((Summary::of(&[9.0, 10.0, 11.0]).spread_pct() - 10.0).abs() < 1e-9);
    }

    fn results(allocs: &[&str]) -> Results {
        Results {
            meta: Meta {
                date: String::new(),
                commit: String::new(),
                rustc: String::new(),
                cpu: String::new(),
                cores: 2,
                hypervisor: String::new(),
                load: (0.0, 0.0),
                duration_secs: 0.0,
                clock: Clock {
                    ticks_per_ns: 1.0,
                    overhead_ticks: 0,
                    resolution_ticks: 1,
                    source: "rdtsc".into(),
                },
                config: Config::new(false),
                trace: TraceInfo {
                    path: String::new(),
                    events: 0,
                    counts: [0; 3],
                    peak_live: 0,
                    file_bytes: 0,
                    arena: 0,
                },
            },
            allocators: allocs
                .iter()
                .map(|a| AllocInfo {
                    name: (*a).into(),
                    krate: String::new(),
                    version: String::new(),
                    note: String::new(),
                    uses_arena: true,
                })
                .collect(),
            records: Vec::new(),
            instructions: Vec::new(),
            instructions_skipped: None,
            throughput_instructions: Vec::new(),
        }
    }

    fn counted(alloc: &str, n: usize, realloc: bool, alloc_instr: u64) -> ThroughputInstr {
        let calls = |c, i| crate::instructions::Calls { calls: c, instructions: i };
        ThroughputInstr {
            alloc: alloc.into(),
            n,
            realloc,
            outcome: Outcome::Ok(crate::instructions::HeapCalls {
                alloc: calls(10, alloc_instr),
                free: calls(10, 400),
                realloc: calls(if realloc { 5 } else { 0 }, if realloc { 500 } else { 0 }),
            }),
        }
    }

    #[test]
    fn throughput_instruction_tables_show_per_call_counts_and_flagship_ratios() {
        let mut r = results(&["bareheap Tlsf", "talc", "rlsf", "slow"]);
        for realloc in [false, true] {
            r.throughput_instructions.push(counted("bareheap Tlsf", 1000, realloc, 500));
            r.throughput_instructions.push(counted("talc", 1000, realloc, 1000));
            r.throughput_instructions.push(counted("rlsf", 1000, realloc, 250));
        }
        r.throughput_instructions.push(ThroughputInstr {
            alloc: "slow".into(),
            n: 1000,
            realloc: false,
            outcome: Outcome::Unavailable("too slow for callgrind".into()),
        });
        let md = r.throughput_instruction_tables();
        // Tlsf without reallocs: 50 per alloc, 40 per free, 45 per op.
        assert!(md.contains("| bareheap Tlsf | 50.0 | 40.0 | 45.0 |"), "{md}");
        // With reallocs: 50, 40, 100 per realloc, (500 + 400 + 500) / 25 = 56 per op.
        assert!(md.contains("| bareheap Tlsf | 50.0 | 40.0 | 100.0 | 56.0 |"), "{md}");
        assert!(md.contains("| bareheap Tlsf / talc, alloc | 0.50× | 0.50× |"), "{md}");
        assert!(md.contains("| bareheap Tlsf / rlsf, alloc | 2.00× | 2.00× |"), "{md}");
        assert!(md.contains("| bareheap Tlsf / talc, realloc | – | 1.00× |"), "{md}");
        assert!(md.contains("slow at N=1000: too slow for callgrind"), "{md}");
    }

    #[test]
    fn throughput_instruction_tables_without_valgrind_say_skipped() {
        let mut r = results(&["bareheap Tlsf"]);
        r.instructions_skipped = Some("valgrind not found".into());
        assert!(r.throughput_instruction_tables().contains("SKIPPED"));
    }

    /// Percentiles whose every figure is `v` (count 10), or with no samples for `v` < 0.
    fn pct(v: f64) -> Percentiles {
        let count = if v < 0.0 { 0 } else { 10 };
        Percentiles { count, p50: v, p99: v, p999: v, p9999: v, max: v }
    }

    /// A latency outcome: per round, each rep's figures (every kind the same) and the floor.
    fn latency_of(rounds: &[(&[f64], f64)]) -> Latency {
        let rounds = rounds
            .iter()
            .map(|(reps, floor)| crate::run::LatencyRound {
                reps: reps.iter().map(|&v| [pct(v), pct(v), pct(v)]).collect(),
                floor: [pct(*floor), pct(*floor), pct(*floor)],
            })
            .collect();
        Latency { rounds, ops: 10, of: 10 }
    }

    fn push_latency(r: &mut Results, alloc: &str, l: Latency) {
        r.records.push(Record {
            alloc: alloc.into(),
            job: Job::Latency { n: 1, ops: 10, reps: 3, seed: 0, arena: 0, budget_secs: 1.0 },
            workers: l.rounds.len(),
            outcome: JobOutcome::Latency(Outcome::Ok(l)),
            wall_secs: 1.0,
        });
    }

    #[test]
    fn latency_runs_take_the_median_over_reps_then_over_rounds() {
        // Rounds' medians over their reps: 3, 5, 3 (the mean of 2 and 4).
        let l = latency_of(&[(&[1.0, 3.0, 100.0], 1.0), (&[5.0], 2.0), (&[2.0, 4.0], 3.0)]);
        let s = PercentilesSummary::runs(&l, 1).unwrap();
        assert_eq!(s.sets, 3);
        assert_eq!((s.p9999.median, s.p9999.min, s.p9999.max), (3.0, 3.0, 5.0));
        assert_eq!(s.medians().max, 3.0);
        let f = PercentilesSummary::floors(&l, 0).unwrap();
        assert_eq!((f.sets, f.max.median, f.max.min, f.max.max), (3, 2.0, 1.0, 3.0));
    }

    #[test]
    fn latency_floors_leave_out_rounds_without_one_and_none_is_none() {
        let l = latency_of(&[(&[1.0], -1.0), (&[1.0], 4.0), (&[1.0], 6.0)]);
        let f = PercentilesSummary::floors(&l, 0).unwrap();
        assert_eq!((f.sets, f.max.median), (2, 5.0));
        let none = latency_of(&[(&[1.0], -1.0)]);
        assert!(PercentilesSummary::floors(&none, 0).is_none());
        assert!(PercentilesSummary::runs(&latency_of(&[(&[], 1.0)]), 0).is_none());
    }

    #[test]
    fn verdict_compares_medians_and_says_when_ranges_overlap() {
        let s = |median, min, max| Summary { median, min, max };
        assert_eq!(verdict(&s(1.0, 0.5, 1.5), &s(3.0, 2.0, 4.0), 0.1), "no worse");
        assert_eq!(verdict(&s(2.0, 1.0, 3.0), &s(2.0, 1.5, 4.0), 0.0), "no worse (ranges overlap)");
        assert_eq!(verdict(&s(3.0, 2.5, 3.5), &s(2.0, 1.0, 2.6), 0.1), "worse (ranges overlap)");
        assert_eq!(verdict(&s(3.0, 2.5, 3.5), &s(1.0, 0.5, 1.5), 0.1), "worse");
        // 361.4 against 360.9 ns with a 9.8 ns clock step: the clock cannot order them.
        let tie = "tie (within the clock's resolution)";
        assert_eq!(verdict(&s(361.4, 301.0, 471.0), &s(360.9, 331.0, 421.0), 9.8), tie);
        assert_eq!(
            verdict(&s(371.0, 301.0, 471.0), &s(360.9, 331.0, 421.0), 9.8),
            "worse (ranges overlap)"
        );
    }

    #[test]
    fn latency_tables_give_median_range_and_rounds_and_check_the_flagship_on_medians() {
        let mut r = results(&[FLAGSHIP, "rlsf", "talc"]);
        // The flagship's worst round is worse than any of rlsf's, its median better.
        push_latency(
            &mut r,
            FLAGSHIP,
            latency_of(&[(&[400.0], 100.0), (&[900.0], 120.0), (&[450.0], 110.0)]),
        );
        push_latency(
            &mut r,
            "rlsf",
            latency_of(&[(&[500.0], 90.0), (&[520.0], 95.0), (&[510.0], 99.0)]),
        );
        push_latency(&mut r, "talc", latency_of(&[(&[300.0], 50.0)]));
        let md = r.latency_tables();
        let row = |start: &str| {
            md.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("{start}: {md}"))
        };
        assert_eq!(
            row(&format!("| {FLAGSHIP} | 450 |")),
            format!("| {FLAGSHIP} | 450 | 450 | 450 | 450 (400–900) | 450 (400–900) | 3 |")
        );
        assert!(row("| talc | 300 |").ends_with("| 300 | 300 | 1 |"), "one round: no range");
        assert_eq!(row("| alloc p99.99 vs rlsf"), "| alloc p99.99 vs rlsf | 450 (400–900) | 510 (500–520) | 0.88× | no worse (ranges overlap) |");
        assert!(
            row("| free floor max vs rlsf")
                .ends_with("| 110 (100–120) | 95 (90–99) | 1.16× | worse |"),
            "{md}"
        );
        assert!(
            row("| alloc max vs talc").contains("| 450 (400–900) | 300 | 1.50× | worse |"),
            "{md}"
        );
    }

    #[test]
    fn throughput_tables_mark_cells_from_a_single_worker_when_in_rounds() {
        let mut r = results(&["fast", "slow"]);
        let job = |n| Job::Throughput {
            n,
            realloc: false,
            ops: 10,
            reps: 5,
            seed: 0,
            arena: 0,
            budget_secs: 1.0,
            verify: true,
        };
        for (alloc, workers) in [("fast", 5), ("slow", 1)] {
            r.records.push(Record {
                alloc: alloc.into(),
                job: job(200),
                outcome: JobOutcome::Throughput(Outcome::Ok(crate::run::Throughput {
                    ops_per_sec: vec![1e6; 5],
                    ops: 10,
                    of: 10,
                })),
                wall_secs: 1.0,
                workers,
            });
        }
        let md = r.throughput_tables(false);
        assert!(md.contains("in 5 rounds"), "{md}");
        let row = |a: &str| md.lines().find(|l| l.starts_with(&format!("| {a} "))).unwrap();
        assert!(row("slow").contains('‡') && !row("fast").contains('‡'), "{md}");
    }
}
