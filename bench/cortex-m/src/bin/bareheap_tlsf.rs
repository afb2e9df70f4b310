//! bareheap `Tlsf` against the workload, called through `Heap` without a lock.
#![no_std]
#![no_main]

cortex_m_bench::bareheap_heap!(
    H,
    "bareheap Tlsf",
    bareheap::Tlsf,
    bareheap::Tlsf::new(),
    reuses_memory = true
);
cortex_m_bench::bench_main!(H);
