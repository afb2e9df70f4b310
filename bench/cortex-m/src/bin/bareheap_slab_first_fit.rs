//! bareheap `Slab<FirstFit, SmallClasses>` (1 KiB slabs, classes 16..=256 B) against the workload, called through `Heap` without a lock.
#![no_std]
#![no_main]

cortex_m_bench::bareheap_heap!(
    H,
    "bareheap Slab<FirstFit>",
    bareheap::Slab<bareheap::FirstFit, bareheap::slab::SmallClasses>,
    bareheap::Slab::new(bareheap::FirstFit::new()),
    reuses_memory = true
);
cortex_m_bench::bench_main!(H);
