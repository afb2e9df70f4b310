//! bareheap `FirstFit` wrapped in `Counted` (statistics), through `Heap` without a lock: the
//! cost of the counters is the difference to `bareheap_first_fit`.
#![no_std]
#![no_main]

cortex_m_bench::bareheap_heap!(
    H,
    "bareheap Counted<FirstFit>",
    bareheap::Counted<bareheap::FirstFit>,
    bareheap::Counted::new(bareheap::FirstFit::new()),
    reuses_memory = true
);
cortex_m_bench::bench_main!(H);
