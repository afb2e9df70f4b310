//! rlsf 0.2 against the small-object sequence.
#![no_std]
#![no_main]

cortex_m_bench::bench_main!(cortex_m_bench::adapters::Rlsf, small);
