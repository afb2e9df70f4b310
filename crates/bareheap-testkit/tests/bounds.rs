//! Worst-case operation bounds (RELIABILITY.md F6, P5): the time an operation spends with
//! interrupts masked must have a documented bound, checked and published.
//!
//! - `FirstFit` counts its loop iterations (feature `bareheap/loop-counters`, on through the
//!   testkit's default features); the [`Rig`] holds every call against the bound of the module
//!   documentation's table (`first_fit_bound`: `f + 1` for allocate with `f` free blocks, ...)
//!   and records the most iterations per operation. The stresses below print them: the table
//!   in ARCHITECTURE.md ("Worst-case bounds") is made from that output.
//! - `AtomicBump` counts the passes of its compare-and-swap loop under contention.
//! - `Tlsf` and `Bump` document no loop at all: `tests/static_checks.rs` checks their sources.
#![cfg(feature = "loop-counters")]

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use bareheap::{AtomicBump, Claim, Corruption, FirstFit, Heap, Region, RegionError};
use bareheap_testkit::{
    run, Arena, BoundOp, Config, GenConfig, OpGen, RegionSpec, Rig, Stats, TestHeap,
};

/// Operations per stress (override with `BAREHEAP_BOUND_OPS`, e.g. for `cargo xtask soak`).
fn ops() -> usize {
    // Fewer in debug builds (and under the sanitizers, which build in debug): the table is
    // made from the release run.
    let default = if cfg!(miri) {
        2_000
    } else if cfg!(debug_assertions) {
        30_000
    } else {
        100_000
    };
    std::env::var("BAREHEAP_BOUND_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The seed of the random stresses (override with `BAREHEAP_SEED`).
fn seed() -> u64 {
    std::env::var("BAREHEAP_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xf6)
}

fn summary(line: &str) {
    use std::io::Write;
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let _ = writeln!(std::io::stderr(), "[{profile}] {line}");
}

fn table_row(heap: &str, workload: &str, s: &Stats) {
    let [a, d, g, sh] = s.max_iterations;
    summary(&format!(
        "F6 bound table: {heap} | {workload} | {} calls checked | max loop iterations: \
         allocate {a}, deallocate {d}, grow {g}, shrink {sh}",
        s.bound_checks
    ));
}

/// The shadow-model stress of `property.rs` (random sizes and alignments, grows, shrinks,
/// claims of extra regions) and a fragmenting one (small blocks, most of them freed in random
/// order, so the free list grows long): every call within the documented bound.
#[test]
fn cat_f6_first_fit_every_call_within_documented_loop_bound_under_stress() {
    let ops = ops();
    let seed = seed();
    let cfg = Config {
        reserve: 128 << 10,
        ..Config::labelled(format!("F6 stress; rerun with BAREHEAP_SEED={seed}"))
    };
    let gen = GenConfig { claim_per_mille: 1, ..GenConfig::default() };
    let regions = [RegionSpec::new(256 << 10), RegionSpec { len: 32_771, offset: 5 }];
    let random = run(FirstFit::new(), OpGen::with_config(seed, gen).take(ops), &regions, cfg);
    table_row("FirstFit", &format!("random ops ({ops}, 2+ regions)"), &random);
    assert!(random.bound_checks >= ops as u64, "every heap call is checked: {random}");
    assert!(random.max_iterations.iter().all(|&m| m > 0), "the counters must count: {random}");

    // Fragmenting: allocate small blocks until 3/4 full, then free and allocate at random,
    // keeping about half live, so thousands of holes sit in front of the large free tail.
    let mut rig = Rig::with_regions(
        FirstFit::new(),
        &[RegionSpec::new(1 << 20)],
        Config::labelled(format!("F6 fragmenting stress; rerun with BAREHEAP_SEED={seed}")),
    );
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xf6f6);
    let mut live = Vec::new();
    while live.len() < 12_000 {
        let l = Layout::from_size_align(16 + rng.usize(0..48), 8).unwrap();
        live.extend(rig.alloc(l));
    }
    for _ in 0..ops / 4 {
        if rng.bool() && !live.is_empty() {
            let b = live.swap_remove(rng.usize(0..live.len()));
            rig.free(b);
        } else {
            let big = rng.u8(..) == 0;
            let size = if big { 2048 + rng.usize(0..4096) } else { 16 + rng.usize(0..64) };
            live.extend(rig.alloc(Layout::from_size_align(size, 8 << rng.u32(0..3)).unwrap()));
        }
    }
    let frag = rig.finish();
    table_row("FirstFit", &format!("fragmenting ({} ops, 1 MiB)", ops / 4 + 12_000), &frag);
    assert!(frag.max_iterations[BoundOp::Allocate as usize] > 1_000, "long free list: {frag}");
}

/// The counter is real and first-fit is linear: an allocation that only the tail block can
/// satisfy walks past every hole in front of it.
#[test]
fn cat_f6_first_fit_allocation_behind_k_holes_takes_k_plus_one_iterations() {
    const K: usize = 64;
    let mut arena = Arena::new(64 << 10);
    let mut heap = FirstFit::new();
    // SAFETY: the arena outlives the heap (dropped at the end of the test, after it).
    heap.claim(unsafe { arena.region(0, 64 << 10) }.unwrap()).unwrap();
    let small = Layout::from_size_align(32, 8).unwrap();
    let blocks: Vec<NonNull<u8>> = (0..2 * K).map(|_| heap.allocate(small).unwrap()).collect();
    for b in blocks.iter().step_by(2) {
        // SAFETY: live, allocated with `small`, freed once.
        unsafe { heap.deallocate(*b, small) };
    }
    assert_eq!(heap.bound_inputs(), (K + 1, 1), "K holes and the tail");
    let before = heap.loop_iterations();
    let big = Layout::from_size_align(1024, 8).unwrap();
    let p = heap.allocate(big).expect("the tail fits");
    let took = heap.loop_iterations() - before;
    assert_eq!(took as usize, K + 1, "one pass per hole, one for the tail");
    // SAFETY: live, allocated with `big`, freed once.
    unsafe { heap.deallocate(p, big) };
    heap.validate().unwrap();
}

/// A `FirstFit` that claims a bound it cannot keep (one iteration for everything).
struct TooTight(FirstFit);

// SAFETY: every method forwards to `FirstFit`.
unsafe impl Heap for TooTight {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate(layout)
    }
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded caller contract.
        unsafe { self.0.deallocate(ptr, layout) }
    }
    fn validate(&self) -> Result<(), Corruption> {
        self.0.validate()
    }
}

impl Claim for TooTight {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        self.0.claim(region)
    }
}

impl TestHeap for TooTight {
    const NAME: &'static str = "TooTight";
    const REUSES_FREED: bool = true;
    const MULTI_REGION: bool = true;
    const IN_PLACE: bool = false;
    const MIN_REGION: usize = FirstFit::MIN_REGION_SIZE;
    const REFUSED_BELOW: usize = 3 * FirstFit::GRANULE;
    fn empty() -> Self {
        TooTight(FirstFit::new())
    }
    fn loop_iterations(&self) -> Option<u64> {
        Some(self.0.loop_iterations())
    }
    fn loop_bound(&self, _: BoundOp) -> Option<u64> {
        Some(1)
    }
}

/// Negative control: the rig must fail a heap whose calls exceed its stated bound.
#[test]
#[should_panic(expected = "over its documented bound")]
fn loop_bound_check_fails_a_heap_over_its_bound() {
    let program = OpGen::new(7).take(2_000);
    run(TooTight::empty(), program, &[RegionSpec::new(64 << 10)], Config::labelled("control"));
}

/// `AtomicBump`'s compare-and-swap loop: lock-free, not wait-free, so its bound is "one more
/// pass per allocation another context completed meanwhile". Reported under 8 threads.
#[test]
fn cat_f6_atomic_bump_cas_passes_are_counted_under_contention() {
    const THREADS: usize = 8;
    let mut arena = Arena::new(16 << 20);
    let bump = AtomicBump::new();
    // SAFETY: the arena outlives `bump` (dropped after the threads are joined).
    bump.claim(unsafe { arena.region(0, 16 << 20) }.unwrap()).unwrap();
    let allocs = AtomicUsize::new(0);
    let start = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                let l = Layout::from_size_align(8, 8).unwrap();
                // SAFETY: `l` has a non-zero size.
                while !unsafe { core::alloc::GlobalAlloc::alloc(&bump, l) }.is_null() {
                    allocs.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let (n, max) = (allocs.load(Ordering::Relaxed), bump.max_loop_iterations());
    summary(&format!(
        "F6 bound table: AtomicBump | {THREADS} threads to exhaustion ({n} allocations) | \
         max CAS loop passes per allocation: {max}"
    ));
    assert!(n >= (16 << 20) / 8 - 1, "the region was used up: {n}");
    assert!((1..=n).contains(&max), "every allocation makes at least one pass: {max}");
}
