//! Code-size baseline of the small-object sequence: its harness with a trivial bump allocator
//! (not run). The `small_*` binaries' sizes are measured over this one.
#![no_std]
#![no_main]

cortex_m_bench::bench_main!(cortex_m_bench::adapters::Baseline, small);
