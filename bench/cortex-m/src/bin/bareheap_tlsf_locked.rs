//! bareheap `Tlsf` behind `Locked<CriticalSection, _>`, through `GlobalAlloc` (as a
//! `#[global_allocator]` runs it; compare with embedded-alloc).
#![no_std]
#![no_main]

cortex_m_bench::bareheap_locked!(
    H,
    "bareheap Tlsf (Locked)",
    bareheap::Tlsf,
    bareheap::Tlsf::new()
);
cortex_m_bench::bench_main!(H);
