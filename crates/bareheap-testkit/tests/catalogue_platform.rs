//! Catalogue rows on fill level, platform edges and the `GlobalAlloc` surface (RELIABILITY.md
//! E4, H1, H2, K3), each against every heap it applies to, through the testkit's [`Rig`]: every
//! result is checked by the shadow model and `validate()` runs after every operation.

use core::alloc::{GlobalAlloc, Layout};
use std::panic::{catch_unwind, AssertUnwindSafe};

use bareheap::{AtomicBump, Bump, FirstFit, Locked, Slab, Spin, Tlsf};
use bareheap_testkit::{program, Arena, Config, RegionSpec, Rig, TestHeap};

const MIRI: bool = cfg!(miri);

/// E4: fill to 100 % (until null), free a random half, refill with other sizes, and repeat;
/// the heap must stay consistent at every step and drain back to pristine.
fn fragmentation_at_full_fill<H: TestHeap>() {
    let len = if MIRI { 8 << 10 } else { 64 << 10 };
    let rounds = if MIRI { 3 } else { 25 };
    let mut rig: Rig<H> =
        Rig::with_regions(H::empty(), &[RegionSpec::new(len)], Config::labelled("E4"));
    let mut rng = fastrand::Rng::with_seed(0xe4);
    let mut fails = 0;
    for round in 0..rounds {
        // Fill until the heap says no several times in a row (small sizes can still fit).
        let mut refused = 0;
        while refused < 8 {
            let size = if round % 2 == 0 { rng.usize(1..200) } else { rng.usize(100..1500) };
            let align = 1 << rng.u32(0..7);
            match rig.alloc(Layout::from_size_align(size, align).unwrap()) {
                Some(_) => refused = 0,
                None => {
                    refused += 1;
                    fails += 1;
                }
            }
        }
        let live = rig.blocks().to_vec();
        for b in live {
            if rng.bool() {
                rig.free(b);
            }
        }
    }
    assert!(fails > 0, "{}: the heap was never full: the test did not reach 100 % fill", H::NAME);
    rig.finish();
}

macro_rules! per_heap {
    ($($test:ident: $f:ident::<$heap:ty>;)*) => {$(
        #[test]
        fn $test() {
            $f::<$heap>();
        }
    )*};
}

per_heap! {
    cat_e4_full_fill_fragmentation_first_fit_stays_consistent: fragmentation_at_full_fill::<FirstFit>;
    cat_e4_full_fill_fragmentation_tlsf_stays_consistent: fragmentation_at_full_fill::<Tlsf>;
    cat_e4_full_fill_fragmentation_slab_stays_consistent: fragmentation_at_full_fill::<Slab<FirstFit>>;
}

/// H1: sizes and alignments shaped like 32-bit limits (2^31, 2^32 and their neighbours), which
/// a heap that truncates to 32 bits would turn into small blocks: each must be refused (the
/// arena is 64 KiB), and growing a live block to them must fail and keep its contents.
fn thirty_two_bit_shaped_requests<H: TestHeap>() {
    let mut rig: Rig<H> =
        Rig::with_regions(H::empty(), &[RegionSpec::new(64 << 10)], Config::labelled("H1"));
    let near = |x: u64| [x - 1, x, x + 1, x + 16, x + 64];
    let sizes: Vec<usize> = near(1 << 31)
        .into_iter()
        .chain(near(1 << 32))
        .chain([u64::from(u32::MAX) - 7, u64::from(u32::MAX) * 2])
        .map(|s| usize::try_from(s).expect("a 64-bit host"))
        .collect();
    for &size in &sizes {
        for align in [1usize, 8, 1 << 16, 1 << 31] {
            let Ok(layout) = Layout::from_size_align(size, align) else { continue };
            assert!(rig.alloc(layout).is_none(), "{}: {size} bytes from 64 KiB", H::NAME);
        }
    }
    let small = rig.alloc(Layout::from_size_align(48, 8).unwrap()).expect("a small block");
    for &size in &sizes {
        if H::IN_PLACE || H::REUSES_FREED {
            assert!(rig.grow(small, size).is_none(), "{}: grow to {size}", H::NAME);
        }
    }
    rig.finish();
}

per_heap! {
    cat_h1_32bit_shaped_sizes_first_fit_are_refused_not_truncated: thirty_two_bit_shaped_requests::<FirstFit>;
    cat_h1_32bit_shaped_sizes_tlsf_are_refused_not_truncated: thirty_two_bit_shaped_requests::<Tlsf>;
    cat_h1_32bit_shaped_sizes_bump_are_refused_not_truncated: thirty_two_bit_shaped_requests::<Bump>;
    cat_h1_32bit_shaped_sizes_slab_are_refused_not_truncated: thirty_two_bit_shaped_requests::<Slab<FirstFit>>;
}

/// H2: regions at odd base offsets (1..=15, 17, 31, 33, 63 bytes past a page): every metadata
/// access must still be aligned. Debug builds check the alignment of every `ptr::read`/`write`
/// (core's UB checks), so a misaligned header access panics here; release runs the same
/// programs for the shadow checks.
fn odd_base_offsets<H: TestHeap>() {
    let offsets = (1..=15).chain([17, 31, 33, 63]);
    let ops = if MIRI { 60 } else { 600 };
    for (i, offset) in offsets.enumerate() {
        if MIRI && i % 5 != 0 {
            continue;
        }
        let spec = RegionSpec { len: 16 << 10, offset };
        let mut rig: Rig<H> =
            Rig::with_regions(H::empty(), &[spec], Config::labelled(format!("H2 +{offset}")));
        rig.run(program(0x42 + offset as u64, ops));
        rig.finish();
    }
}

per_heap! {
    cat_h2_odd_base_offsets_first_fit_metadata_stays_aligned: odd_base_offsets::<FirstFit>;
    cat_h2_odd_base_offsets_tlsf_metadata_stays_aligned: odd_base_offsets::<Tlsf>;
    cat_h2_odd_base_offsets_bump_metadata_stays_aligned: odd_base_offsets::<Bump>;
    cat_h2_odd_base_offsets_slab_metadata_stays_aligned: odd_base_offsets::<Slab<FirstFit>>;
}

/// Every valid `Layout` with a non-zero size over alignments 2^0..2^(BITS-1) and sizes near
/// powers of two and `isize::MAX`.
fn layout_grid() -> Vec<Layout> {
    let mut sizes = vec![1usize, 2, 3, 7, 8, 9, 24];
    for k in (4..usize::BITS - 1).step_by(if MIRI { 9 } else { 1 }) {
        sizes.extend([(1usize << k) - 1, 1 << k, (1 << k) + 1]);
    }
    let mut out = Vec::new();
    for a in (0..usize::BITS).step_by(if MIRI { 7 } else { 1 }) {
        let align = 1usize << a;
        let top = (isize::MAX as usize + 1).saturating_sub(align);
        for &size in sizes.iter().chain([top, top.saturating_sub(1)].iter()) {
            if let Some(l) = Layout::from_size_align(size, align).ok().filter(|l| l.size() > 0) {
                out.push(l);
            }
        }
    }
    out
}

/// K3: no `GlobalAlloc` method panics, whatever the layout: `alloc`, `alloc_zeroed` and
/// `realloc` (to every grid size) of `alloc` each return null or an aligned block.
fn global_alloc_never_panics<A: GlobalAlloc>(name: &str, a: &A) {
    let grid = layout_grid();
    let mut served = 0;
    let keep = Layout::from_size_align(32, 8).unwrap();
    for &l in &grid {
        let r = catch_unwind(AssertUnwindSafe(|| {
            for zeroed in [false, true] {
                // SAFETY: `l` has a non-zero size.
                let p = unsafe {
                    if zeroed {
                        a.alloc_zeroed(l)
                    } else {
                        a.alloc(l)
                    }
                };
                if !p.is_null() {
                    assert_eq!(p.addr() % l.align(), 0, "{name}: misaligned for {l:?}");
                    served += 1;
                    // SAFETY: allocated just above with `l`.
                    unsafe { a.dealloc(p, l) };
                }
            }
            // SAFETY: `keep` has a non-zero size.
            let p = unsafe { a.alloc(keep) };
            // `realloc`'s contract: the new size must form a valid layout with the old align.
            let valid = Layout::from_size_align(l.size(), keep.align()).is_ok();
            if !p.is_null() && !valid {
                // SAFETY: allocated just above with `keep`.
                unsafe { a.dealloc(p, keep) };
            } else if !p.is_null() {
                // SAFETY: `p` is live with `keep`; `l.size()` is non-zero and forms a valid
                // layout with alignment 8.
                let q = unsafe { a.realloc(p, keep, l.size()) };
                // SAFETY: whichever block is live now is freed with its layout.
                unsafe {
                    if q.is_null() {
                        a.dealloc(p, keep);
                    } else {
                        assert_eq!(q.addr() % 8, 0, "{name}: realloc lost the alignment");
                        a.dealloc(q, Layout::from_size_align(l.size(), 8).unwrap());
                    }
                }
            }
        }));
        assert!(r.is_ok(), "{name}: a GlobalAlloc method panicked for {l:?}");
    }
    assert!(served > 0, "{name}: served no layout at all: the heap was not set up");
    println!("{name}: {} layouts, {served} served, no panic", grid.len());
}

fn locked_global_alloc_never_panics<H: TestHeap>() {
    const LEN: usize = 64 << 10;
    let mut arena = Arena::new(LEN);
    let heap: Locked<Spin, H> = Locked::new(H::empty());
    // SAFETY: the arena outlives `heap` (declared earlier) and is not refilled.
    heap.claim(unsafe { arena.region(0, LEN) }.expect("region")).expect("claim");
    global_alloc_never_panics(&format!("Locked<Spin, {}>", H::NAME), &heap);
    heap.lock(|h| h.validate()).expect("lock").expect("validate");
}

per_heap! {
    cat_k3_global_alloc_first_fit_never_panics_over_the_layout_grid: locked_global_alloc_never_panics::<FirstFit>;
    cat_k3_global_alloc_tlsf_never_panics_over_the_layout_grid: locked_global_alloc_never_panics::<Tlsf>;
    cat_k3_global_alloc_bump_never_panics_over_the_layout_grid: locked_global_alloc_never_panics::<Bump>;
    cat_k3_global_alloc_slab_never_panics_over_the_layout_grid: locked_global_alloc_never_panics::<Slab<FirstFit>>;
}

#[test]
fn cat_k3_global_alloc_atomic_bump_never_panics_over_the_layout_grid() {
    const LEN: usize = 64 << 10;
    let mut arena = Arena::new(LEN);
    let bump = AtomicBump::new();
    // SAFETY: the arena outlives `bump` (declared earlier) and is not refilled.
    bump.claim(unsafe { arena.region(0, LEN) }.expect("region")).expect("claim");
    global_alloc_never_panics("AtomicBump", &bump);
    bump.validate().expect("validate");
}
