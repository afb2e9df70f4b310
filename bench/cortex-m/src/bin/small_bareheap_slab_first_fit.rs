//! bareheap `Slab<FirstFit, SmallClasses>` against the small-object sequence, called through `Heap` without a lock.
#![no_std]
#![no_main]

cortex_m_bench::bareheap_heap!(
    H,
    "bareheap Slab<FirstFit>",
    bareheap::Slab<bareheap::FirstFit, bareheap::slab::SmallClasses>,
    bareheap::Slab::new(bareheap::FirstFit::new()),
    reuses_memory = true
);
cortex_m_bench::bench_main!(H, small);
