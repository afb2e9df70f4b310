//! bareheap `Slab<Tlsf, SmallClasses>` against the small-object sequence, called through `Heap` without a lock.
#![no_std]
#![no_main]

cortex_m_bench::bareheap_heap!(
    H,
    "bareheap Slab<Tlsf>",
    bareheap::Slab<bareheap::Tlsf, bareheap::slab::SmallClasses>,
    bareheap::Slab::new(bareheap::Tlsf::new()),
    reuses_memory = true
);
cortex_m_bench::bench_main!(H, small);
