//! Benchmarks: host side-by-side runs and the Cortex-M3 instruction counts and code size.

use crate::report::Report;

/// Runs the benchmarks (`--quick`: a short smoke run).
pub fn bench(report: &mut Report, quick: bool) {
    report.skip("bench", "benchmarks not written yet");
    crate::size::bench_target(report, quick);
}

/// Measures code size and static RAM of each allocator in firmware.
pub fn size(report: &mut Report) {
    crate::size::size(report);
}
