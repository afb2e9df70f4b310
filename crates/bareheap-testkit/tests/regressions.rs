//! Ported reproducers of the peers' allocator bugs (RELIABILITY.md R10), each a named test
//! against every bareheap heap it applies to, checked by the testkit's [`Rig`] (shadow model,
//! guard bytes around every region, `validate()` after every operation, drain to pristine).
//! The names say whose bug it was: `r10_<project>_<issue>_<what>`.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use bareheap::{AtomicBump, Bump, FirstFit, Heap, Locked, Slab, Spin, Tlsf};
use bareheap_testkit::{program, Arena, Config, RegionSpec, Rig, TestHeap};

const MIRI: bool = cfg!(miri);

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

fn rig<H: TestHeap>(len: usize, label: &str) -> Rig<H> {
    let cfg = Config { reserve: 256 << 10, ..Config::labelled(label) };
    Rig::with_regions(H::empty(), &[RegionSpec::new(len)], cfg)
}

/// Runs `$f::<H>()` for each listed heap, as one test per heap.
macro_rules! per_heap {
    ($($test:ident: $f:ident::<$heap:ty>;)*) => {$(
        #[test]
        fn $test() {
            $f::<$heap>();
        }
    )*};
}

// ---- linked_list_allocator RUSTSEC-2022-0063 (four bullets) ------------------------------------

/// (1) `init` with a region smaller than a hole header wrote past it.
fn tiny_init_writes_nothing<H: TestHeap>() {
    for len in 0..=H::MIN_REGION + 8 {
        let mut rig: Rig<H> = Rig::new(H::empty(), Config::labelled(format!("len {len}")));
        if rig.claim(RegionSpec { len, offset: 8 }).is_err() {
            // Refused: the rig checks that every byte around and inside is untouched.
        }
        rig.check_guards();
    }
}

/// (2) `extend` by less than a hole header wrote past the new end.
fn tiny_extend_writes_nothing<H: TestHeap>() {
    for len in 0..H::MIN_REGION {
        let mut rig: Rig<H> =
            Rig::new(H::empty(), Config { reserve: 64 << 10, ..Config::labelled("extend") });
        rig.claim_reserve(16 << 10, 0).expect("reserve").expect("first region");
        let _ = rig.claim_reserve(len, 0).expect("reserve");
        rig.check_guards();
        rig.run(program(len as u64, 40));
        rig.finish();
    }
}

/// (3) `extend` before `init` treated garbage as the heap bounds.
fn extend_before_init_is_init<H: TestHeap>() {
    let mut rig: Rig<H> = Rig::new(H::empty(), Config::labelled("claim on an empty heap"));
    assert!(rig.alloc(layout(8, 8)).is_none(), "an empty heap must refuse");
    rig.claim(RegionSpec::new(16 << 10)).expect("the first claim initialises");
    assert!(rig.alloc(layout(8, 8)).is_some());
    rig.finish();
}

/// (4) A misaligned base made the allocator write a header at an unaligned address (debug
/// builds check every `ptr::write`'s alignment).
fn misaligned_base_metadata_stays_aligned<H: TestHeap>() {
    for offset in 1..8 {
        let mut rig: Rig<H> = Rig::with_regions(
            H::empty(),
            &[RegionSpec { len: 8 << 10, offset }],
            Config::labelled(format!("base +{offset}")),
        );
        rig.run(program(offset as u64, if MIRI { 40 } else { 300 }));
        rig.finish();
    }
}

per_heap! {
    r10_lla_rustsec_2022_0063_1_tiny_init_first_fit_writes_nothing: tiny_init_writes_nothing::<FirstFit>;
    r10_lla_rustsec_2022_0063_1_tiny_init_tlsf_writes_nothing: tiny_init_writes_nothing::<Tlsf>;
    r10_lla_rustsec_2022_0063_1_tiny_init_bump_writes_nothing: tiny_init_writes_nothing::<Bump>;
    r10_lla_rustsec_2022_0063_2_tiny_extend_first_fit_writes_nothing: tiny_extend_writes_nothing::<FirstFit>;
    r10_lla_rustsec_2022_0063_2_tiny_extend_tlsf_writes_nothing: tiny_extend_writes_nothing::<Tlsf>;
    r10_lla_rustsec_2022_0063_3_extend_before_init_first_fit_initialises: extend_before_init_is_init::<FirstFit>;
    r10_lla_rustsec_2022_0063_3_extend_before_init_tlsf_initialises: extend_before_init_is_init::<Tlsf>;
    r10_lla_rustsec_2022_0063_3_extend_before_init_slab_initialises: extend_before_init_is_init::<Slab<FirstFit>>;
    r10_lla_rustsec_2022_0063_4_misaligned_base_first_fit_aligned_metadata: misaligned_base_metadata_stays_aligned::<FirstFit>;
    r10_lla_rustsec_2022_0063_4_misaligned_base_tlsf_aligned_metadata: misaligned_base_metadata_stays_aligned::<Tlsf>;
    r10_rmind_tlsf_2_misaligned_pool_base_slab_aligned_metadata: misaligned_base_metadata_stays_aligned::<Slab<FirstFit>>;
}

// ---- realloc copy lengths: bumpalo RUSTSEC-2020-0006, rlsf 0.1.1 -------------------------------

/// A moving grow and a moving shrink copy exactly `min(old, new)` bytes: the old contents
/// survive, and the neighbour that forced the move is untouched (the rig checks both).
fn moving_realloc_copies_the_right_length<H: TestHeap>() {
    let mut rig: Rig<H> = rig(64 << 10, "moving realloc");
    for (old, new) in [(16, 1024), (100, 4000), (24, 33), (3000, 40)] {
        let a = rig.alloc(layout(old, 8)).expect("a");
        let _neighbour = rig.alloc(layout(64, 8)).expect("neighbour");
        let moved = if new > old { rig.grow(a, new) } else { rig.shrink(a, new) };
        assert!(moved.is_some(), "{}: realloc {old} -> {new}", H::NAME);
        rig.verify_all();
    }
    if H::REUSES_FREED {
        rig.finish();
    }
}

per_heap! {
    r10_bumpalo_rustsec_2020_0006_bump_realloc_copies_old_length_only: moving_realloc_copies_the_right_length::<Bump>;
    r10_rlsf_0_1_1_tlsf_moving_realloc_copies_min_of_old_and_new: moving_realloc_copies_the_right_length::<Tlsf>;
    r10_rlsf_0_1_1_first_fit_moving_realloc_copies_min_of_old_and_new: moving_realloc_copies_the_right_length::<FirstFit>;
    r10_rlsf_0_1_1_slab_moving_realloc_copies_min_of_old_and_new: moving_realloc_copies_the_right_length::<Slab<FirstFit>>;
}

// ---- leaks and fragmentation: wee_alloc #106, linked_list_allocator #66 ------------------------

/// wee_alloc #106: allocating 85,196 then 80,000 bytes and freeing them in order, again and
/// again, grew the footprint until OOM. Here the free space must come back every time.
fn alternating_large_blocks_do_not_leak<H: TestHeap>() {
    let mut rig: Rig<H> = rig(256 << 10, "wee_alloc #106");
    let free0 = rig.heap().free_bytes();
    for i in 0..if MIRI { 5 } else { 2_000 } {
        let a = rig.alloc(layout(85_196, 8)).unwrap_or_else(|| panic!("iteration {i}: a"));
        let b = rig.alloc(layout(80_000, 8)).unwrap_or_else(|| panic!("iteration {i}: b"));
        rig.free(a);
        rig.free(b);
        assert_eq!(rig.heap().free_bytes(), free0, "{}: iteration {i} leaked", H::NAME);
    }
    rig.finish();
}

/// linked_list_allocator #66: after random traffic and freeing everything, the whole heap
/// must be one block again (the rig's pristine check allocates the full capacity).
fn free_all_returns_full_capacity<H: TestHeap>() {
    let mut rig: Rig<H> = rig(64 << 10, "LLA #66");
    rig.run(program(66, if MIRI { 100 } else { 5_000 }));
    rig.finish();
}

per_heap! {
    r10_wee_alloc_106_first_fit_alternating_85196_80000_does_not_leak: alternating_large_blocks_do_not_leak::<FirstFit>;
    r10_wee_alloc_106_tlsf_alternating_85196_80000_does_not_leak: alternating_large_blocks_do_not_leak::<Tlsf>;
    r10_wee_alloc_106_slab_alternating_85196_80000_does_not_leak: alternating_large_blocks_do_not_leak::<Slab<FirstFit>>;
    r10_lla_66_first_fit_free_all_returns_full_capacity: free_all_returns_full_capacity::<FirstFit>;
    r10_lla_66_tlsf_free_all_returns_full_capacity: free_all_returns_full_capacity::<Tlsf>;
    r10_lla_66_slab_free_all_returns_full_capacity: free_all_returns_full_capacity::<Slab<FirstFit>>;
}

// ---- huge and overflowing layouts: LLA #79, #85, glibc 22375, risc0 #2778 ----------------------

/// Layouts whose size plus header, padding or alignment overflows.
fn huge_layouts() -> Vec<Layout> {
    let mut out = Vec::new();
    for align_log2 in [0u32, 3, 4, 12, 30, 62, usize::BITS - 1] {
        let align = 1usize << align_log2;
        let top = (isize::MAX as usize + 1).saturating_sub(align);
        for size in [1, top, top.saturating_sub(1), top.saturating_sub(64), top / 2 + 1] {
            if let Ok(l) = Layout::from_size_align(size, align) {
                out.push(l);
            }
        }
    }
    out
}

/// LLA #79 (an `unwrap` in align-up panicked on huge layouts) and glibc 22375 (size plus header
/// wrapped to a small request): every huge layout gets `None`; small ones still work after.
fn huge_layouts_are_refused<H: TestHeap>() {
    let mut rig: Rig<H> = rig(64 << 10, "huge layouts");
    for l in huge_layouts() {
        if l.size() > 64 << 10 || l.align() > 64 << 10 {
            assert!(rig.alloc(l).is_none(), "{}: {l:?} from a 64 KiB heap", H::NAME);
        }
    }
    let small = rig.alloc(layout(40, 8)).expect("small block after the huge ones");
    for l in huge_layouts() {
        if l.align() <= 8 && l.size() > 64 << 10 && (H::IN_PLACE || H::REUSES_FREED) {
            assert!(rig.grow(small, l.size()).is_none(), "{}: grow to {}", H::NAME, l.size());
        }
    }
    rig.finish();
}

/// LLA #85 (32-bit arithmetic): sizes around 2^32, which 32-bit truncation would make small.
fn sizes_around_4_gib_are_refused<H: TestHeap>() {
    let mut rig: Rig<H> = rig(64 << 10, "4 GiB sizes");
    for size in [(1usize << 32) - 1, 1 << 32, (1 << 32) + 1, (1 << 32) + 64] {
        assert!(rig.alloc(layout(size, 8)).is_none(), "{}: {size}", H::NAME);
    }
    rig.finish();
}

per_heap! {
    r10_lla_79_first_fit_huge_layouts_are_refused_without_panic: huge_layouts_are_refused::<FirstFit>;
    r10_lla_79_tlsf_huge_layouts_are_refused_without_panic: huge_layouts_are_refused::<Tlsf>;
    r10_lla_79_slab_huge_layouts_are_refused_without_panic: huge_layouts_are_refused::<Slab<FirstFit>>;
    r10_glibc_22375_bump_size_plus_padding_overflow_is_refused: huge_layouts_are_refused::<Bump>;
    r10_lla_85_first_fit_sizes_around_4_gib_are_refused: sizes_around_4_gib_are_refused::<FirstFit>;
    r10_lla_85_tlsf_sizes_around_4_gib_are_refused: sizes_around_4_gib_are_refused::<Tlsf>;
}

/// risc0 #2778: a bump allocator's `next + padding + size` overflowed and wrapped to a low
/// address. Both bump allocators must refuse, and their `next` must not move.
#[test]
fn r10_risc0_2778_bump_and_atomic_bump_overflowing_bump_is_refused() {
    let mut arena = Arena::new(4096);
    let bump = AtomicBump::new();
    // SAFETY: the arena outlives `bump` (declared earlier) and is not refilled.
    bump.claim(unsafe { arena.region(0, 4096) }.expect("region")).expect("claim");
    // SAFETY: a non-zero size.
    let first = unsafe { bump.alloc(layout(100, 1)) };
    assert!(!first.is_null());
    let used = bump.used();
    for l in huge_layouts().into_iter().filter(|l| l.size() > 4096 || l.align() > 4096) {
        // SAFETY: a non-zero size.
        assert!(unsafe { bump.alloc(l) }.is_null(), "AtomicBump: {l:?}");
        assert_eq!(bump.used(), used, "AtomicBump: a refused request moved next");
    }
    let mut rig: Rig<Bump> = rig(4096, "risc0 #2778");
    rig.alloc(layout(100, 1)).expect("first");
    let used = rig.heap().used();
    for l in huge_layouts().into_iter().filter(|l| l.size() > 4096 || l.align() > 4096) {
        assert!(rig.alloc(l).is_none(), "Bump: {l:?}");
        assert_eq!(rig.heap().used(), used, "Bump: a refused request moved next");
    }
}

/// bump-scope #92 (alignment after odd sizes): odd sizes interleaved with every alignment up to
/// 4 KiB; each block aligned and disjoint (the rig checks), and usage only grows.
#[test]
fn r10_bump_scope_92_bump_odd_sizes_then_large_alignments_stay_aligned() {
    let mut rig: Rig<Bump> = rig(256 << 10, "bump-scope #92");
    for (i, align_log2) in (0..=12).cycle().take(if MIRI { 26 } else { 130 }).enumerate() {
        let before = rig.heap().used();
        rig.alloc(layout(1 + 2 * (i % 5), 1 << align_log2)).expect("fits");
        assert!(rig.heap().used() > before);
    }
}

// ---- region coalescing, exact capacity, classes: buddy #20, #51, a51e890 -----------------------

/// buddy_system_allocator #20: a heap that is not a power of two could not serve a block
/// larger than its largest power-of-two part. 48 KiB must serve a 40 KiB block.
fn non_power_of_two_heap_serves_more_than_half<H: TestHeap>() {
    let mut rig: Rig<H> = rig(48 << 10, "buddy #20");
    assert!(rig.alloc(layout(40 << 10, 8)).is_some(), "{}: 40 KiB from 48 KiB", H::NAME);
    rig.finish();
}

/// buddy_system_allocator #51: adjacent regions were never coalesced. Two adjacent 16 KiB
/// claims must serve a 24 KiB block.
fn adjacent_regions_coalesce<H: TestHeap>() {
    let mut rig: Rig<H> =
        Rig::new(H::empty(), Config { reserve: 64 << 10, ..Config::labelled("buddy #51") });
    rig.claim_reserve(16 << 10, 0).expect("reserve").expect("first");
    rig.claim_reserve(16 << 10, 0).expect("reserve").expect("second, adjacent");
    assert!(rig.alloc(layout(24 << 10, 8)).is_some(), "{}: 24 KiB across the seam", H::NAME);
    rig.finish();
}

/// buddy_system_allocator `a51e890` (splitting above the maximum order): the largest block a
/// 4 MiB heap can hold is served, freed and served again.
fn largest_block_round_trips<H: TestHeap>() {
    let len = if MIRI { 64 << 10 } else { 4 << 20 };
    let mut rig: Rig<H> = rig(len, "a51e890");
    let mut size = len;
    let block = loop {
        if let Some(b) = rig.alloc(layout(size, 8)) {
            break b;
        }
        size -= 8;
    };
    assert!(size >= len - len / 16, "{}: largest block {size} of {len}", H::NAME);
    rig.free(block);
    let again = rig.alloc(layout(size, 8)).expect("the largest block again");
    rig.free(again);
    rig.finish();
}

per_heap! {
    r10_buddy_20_first_fit_non_power_of_two_heap_serves_40_of_48_kib: non_power_of_two_heap_serves_more_than_half::<FirstFit>;
    r10_buddy_20_tlsf_non_power_of_two_heap_serves_40_of_48_kib: non_power_of_two_heap_serves_more_than_half::<Tlsf>;
    r10_buddy_51_first_fit_adjacent_regions_coalesce: adjacent_regions_coalesce::<FirstFit>;
    r10_buddy_a51e890_first_fit_largest_block_round_trips: largest_block_round_trips::<FirstFit>;
    r10_buddy_a51e890_tlsf_largest_block_round_trips: largest_block_round_trips::<Tlsf>;
}

/// buddy_system_allocator #37: a safe `dealloc` took a raw pointer. Ours are `unsafe fn`.
#[test]
fn r10_buddy_37_heap_methods_taking_pointers_are_unsafe() {
    let heap_rs = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bareheap/src/heap.rs"),
    )
    .expect("heap.rs");
    for method in ["deallocate", "grow", "shrink"] {
        assert!(
            heap_rs.contains(&format!("unsafe fn {method}(")),
            "Heap::{method} takes a pointer and must be an unsafe fn"
        );
    }
}

// ---- talc #49: gaps over 16 MiB ----------------------------------------------------------------

/// talc #49: free gaps of 16 MiB or more were mis-sized and produced overlapping blocks. A 64 MiB
/// heap with two freed 20 MiB holes serves 17 and 18 MiB blocks with no overlap (the shadow
/// model checks every block).
fn gaps_over_16_mib_never_overlap<H: TestHeap>() {
    let mut rig: Rig<H> = rig(64 << 20, "talc #49");
    let a = rig.alloc(layout(20 << 20, 16)).expect("a");
    let _b = rig.alloc(layout(1024, 16)).expect("b");
    let c = rig.alloc(layout(20 << 20, 16)).expect("c");
    let _d = rig.alloc(layout(1024, 16)).expect("d");
    rig.free(a);
    rig.free(c);
    for size in [17 << 20, 18 << 20, (16 << 20) + 1, 1 << 20] {
        rig.alloc(layout(size, 16)).unwrap_or_else(|| panic!("{}: {size}", H::NAME));
    }
    rig.finish();
}

#[cfg(not(miri))]
per_heap! {
    r10_talc_49_first_fit_gaps_over_16_mib_never_overlap: gaps_over_16_mib_never_overlap::<FirstFit>;
    r10_talc_49_tlsf_gaps_over_16_mib_never_overlap: gaps_over_16_mib_never_overlap::<Tlsf>;
}

// ---- TLSF: mattconte/tlsf #36, tlsf-bsd #4 -----------------------------------------------------

/// mattconte/tlsf #36: a moving realloc lost the block's alignment.
#[test]
fn r10_mattconte_tlsf_36_tlsf_moving_realloc_keeps_the_alignment() {
    let mut rig: Rig<Tlsf> = rig(256 << 10, "mattconte #36");
    for align_log2 in 4..=12 {
        let a = rig.alloc(layout(64, 1 << align_log2)).expect("a");
        let _neighbour = rig.alloc(layout(64, 8)).expect("neighbour");
        let moved = rig.grow(a, 8192).expect("grow");
        assert_eq!(moved.addr() % (1 << align_log2), 0, "alignment 2^{align_log2} lost");
    }
    rig.finish();
}

/// tlsf-bsd #4 (the size-to-class mapping of the largest sizes): every size from the largest
/// allocation down through the top classes maps and is refused or served without overflow.
#[test]
fn r10_tlsf_bsd_4_tlsf_top_class_sizes_map_without_overflow() {
    let mut rig: Rig<Tlsf> = rig(1 << 20, "tlsf-bsd #4");
    let max = Tlsf::MAX_ALLOCATION;
    for size in [max, max - 1, max + 1, max / 2 + 1, usize::MAX / 4, (isize::MAX as usize) - 15] {
        let Ok(l) = Layout::from_size_align(size, 16) else { continue };
        assert!(rig.alloc(l).is_none(), "{size} from 1 MiB");
    }
    rig.run(program(4, if MIRI { 50 } else { 2_000 }));
    rig.finish();
}

// ---- re-entry and allocation before init: embedded-alloc, umm_malloc ---------------------------

/// embedded-alloc's `RefCell` heap panicked (`already borrowed`) when the allocator was
/// re-entered from its own path; ours returns null.
#[test]
fn r10_embedded_alloc_refcell_reentry_returns_null_instead_of_panicking() {
    let mut arena = Arena::new(4096);
    let heap: Locked<Spin, FirstFit> = Locked::with_lock(Spin::with_core_id(|| 7), FirstFit::new());
    // SAFETY: the arena outlives `heap` (declared earlier) and is not refilled.
    heap.claim(unsafe { arena.region(0, 4096) }.expect("region")).expect("claim");
    let nested = heap.lock(|_| {
        // SAFETY: a non-zero size.
        unsafe { heap.alloc(layout(16, 8)) }
    });
    assert_eq!(nested, Some(core::ptr::null_mut()), "re-entry must give null");
}

/// umm_malloc crashed when `malloc` ran before `umm_init`: every heap returns `None`.
#[test]
fn r10_umm_malloc_alloc_before_init_returns_none_for_every_heap() {
    fn check<H: Heap>(mut h: H, name: &str) {
        for l in [layout(1, 1), layout(0, 8), layout(4096, 4096)] {
            assert!(h.allocate(l).is_none(), "{name}: {l:?} before init");
        }
        h.validate().expect("validate an empty heap");
    }
    check(FirstFit::new(), "FirstFit");
    check(Tlsf::new(), "Tlsf");
    check(Bump::new(), "Bump");
    check(Slab::<FirstFit>::new(FirstFit::new()), "Slab");
    let bump = AtomicBump::new();
    // SAFETY: a non-zero size.
    assert!(unsafe { bump.alloc(layout(8, 8)) }.is_null());
    let _ = NonNull::<u8>::dangling();
}
