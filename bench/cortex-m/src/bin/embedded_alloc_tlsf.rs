//! embedded-alloc 0.7 TlsfHeap against the workload.
#![no_std]
#![no_main]

cortex_m_bench::bench_main!(cortex_m_bench::adapters::EmbeddedTlsf);
