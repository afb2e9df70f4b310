//! Code-size baseline: the harness with a trivial bump allocator (not run).
#![no_std]
#![no_main]

cortex_m_bench::bench_main!(cortex_m_bench::adapters::Baseline);
