//! Benchmarks: host side-by-side runs and the Cortex-M3 instruction counts and code size.

use std::process::Command;

use crate::report::Report;

/// Runs the benchmarks (`--quick`: a short smoke run).
///
/// The host part builds `bench` in release mode and runs every allocator on every workload.
/// - full: results into `bench/results/` (committed) and `BENCHMARKS.md` regenerated;
/// - both also count the exact instructions of the heap calls of the small-object programs
///   and of the random-actions programs' steady phase (two live-set sizes) under callgrind
///   (valgrind, installed if missing);
/// - quick: the same workloads at smoke-test sizes, into `target/bench-quick/` (never over the
///   committed results), including a rendered `BENCHMARKS.md` there so the template is exercised.
pub fn bench(report: &mut Report, quick: bool) {
    // On target first: the host run renders BENCHMARKS.md, which includes
    // bench/results/cortex-m3.md as the target step just wrote it.
    crate::size::bench_target(report, quick);
    host(report, quick);
}

fn host(report: &mut Report, quick: bool) {
    let root = crate::setup::root();
    let (out, markdown) = if quick {
        (root.join("target/bench-quick"), root.join("target/bench-quick/BENCHMARKS.md"))
    } else {
        (root.join("bench/results"), root.join("BENCHMARKS.md"))
    };
    if !report
        .cargo("bench (build, release)", &["build", "--release", "-p", "bench", "--bin", "bench"])
    {
        return;
    }
    let exe = root.join("target/release/bench");
    let mut cmd = Command::new(&exe);
    // The small-object and random-actions programs also run under callgrind, for exact
    // instruction counts; the run reports them SKIPPED (in skipped.txt, read below) if
    // valgrind cannot be had.
    match crate::setup::ensure_program("valgrind", "valgrind") {
        Ok(valgrind) => {
            cmd.env("BENCH_VALGRIND", valgrind);
        }
        Err(why) => println!("xtask: no valgrind for the instruction counts: {why}"),
    }
    cmd.arg("run").arg("--out").arg(&out).arg("--markdown").arg(&markdown).current_dir(&root);
    if quick {
        cmd.arg("--quick");
    }
    let name = if quick { "bench host (quick)" } else { "bench host (full)" };
    report.run(name, cmd);
    // Heaps that could not run (e.g. not written yet) are listed by the run; never a pass.
    if let Ok(text) = std::fs::read_to_string(out.join("skipped.txt")) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (what, why) = line.split_once(": ").unwrap_or((line, "unavailable"));
            report.skip(&format!("bench host: {what}"), why);
        }
    }
}

/// Measures code size and static RAM of each allocator in firmware.
pub fn size(report: &mut Report) {
    crate::size::size(report);
}
