//! bareheap `Bump` against the workload (until the arena is full: a bump pointer does not
//! reuse freed memory), called through `Heap` without a lock.
#![no_std]
#![no_main]

cortex_m_bench::bareheap_heap!(
    H,
    "bareheap Bump",
    bareheap::Bump,
    bareheap::Bump::new(),
    reuses_memory = false
);
cortex_m_bench::bench_main!(H);
