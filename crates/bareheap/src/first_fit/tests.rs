//! Tests of [`FirstFit`]: the address math, claim edge cases, the catalogue rows of
//! RELIABILITY.md that apply, in-place grow and shrink, planted corruption, and a randomized
//! shadow-model test. `validate()` runs after every heap operation.

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::{self, NonNull};
use std::vec::Vec;

use super::math::{self, GRANULE, HEADER, MIN_BLOCK, RECORD, WORD};
use super::{
    header_to_link, read_word, record_to_end, record_to_next, record_to_start, write_word,
};
use super::{FirstFit, END, USED};
use crate::heap::{Claim, Heap};
use crate::test_util::Arena;
use crate::{Region, RegionError};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

std::thread_local! {
    static LAST_INVALID: Cell<Option<(usize, &'static str)>> = const { Cell::new(None) };
}

/// Called by `invalid_free` in test builds: remembers the last detection on this thread.
pub(super) fn note_invalid_free(addr: usize, reason: &'static str) {
    LAST_INVALID.with(|c| c.set(Some((addr, reason))));
}

/// The last detection since the previous call, if any.
fn take_invalid() -> Option<(usize, &'static str)> {
    LAST_INVALID.with(|c| c.take())
}

const FILL: u8 = 0xA5;

/// A test arena of `len` bytes, all [`FILL`].
fn filled(len: usize) -> Arena {
    Arena::filled(len, FILL)
}

/// A heap over a whole fresh arena of `len` bytes.
fn heap_on(arena: &Arena) -> FirstFit {
    let mut heap = FirstFit::new();
    heap.claim(arena.region(0, arena.len())).unwrap();
    heap.validate().unwrap();
    heap
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// `(address, size)` of every free block, in list order.
fn free_blocks(heap: &FirstFit) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    heap.for_each_free(|b, s| v.push((b.addr(), s)));
    v
}

/// `(first block, end record)` of every region, in list order.
fn regions(heap: &FirstFit) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut rec = heap.regions;
    while !rec.is_null() {
        // SAFETY: `rec` is an end record of a validated heap.
        let start = unsafe { record_to_start(rec).read() };
        v.push((math::first_block(start).unwrap(), rec.addr()));
        // SAFETY: as above.
        rec = unsafe { record_to_next(rec).read() };
    }
    v
}

/// E3: every region is one free block from its first block to its end record.
fn assert_pristine(heap: &FirstFit) {
    heap.validate().unwrap();
    let expect: Vec<_> = regions(heap).into_iter().map(|(f, r)| (f, r - f)).collect();
    assert_eq!(free_blocks(heap), expect, "heap not back to one free block per region");
}

fn fill_block(p: NonNull<u8>, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: `p` is a live block of at least `len` bytes owned by the test.
        unsafe { p.as_ptr().add(i).write(seed.wrapping_add(i as u8)) };
    }
}

fn check_block(p: NonNull<u8>, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: as in `fill_block`.
        let b = unsafe { p.as_ptr().add(i).read() };
        assert_eq!(b, seed.wrapping_add(i as u8), "content lost at {:#x}+{i}", p.as_ptr().addr());
    }
}

/// A xorshift64 generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------------
// Address math
// ---------------------------------------------------------------------------------------------

#[test]
fn block_size_is_payload_plus_header_rounded_to_granule() {
    for size in 0..2000usize {
        let b = math::block_size(size).unwrap();
        assert_eq!(b % GRANULE, 0, "{size}");
        assert!(b >= size + HEADER && b >= MIN_BLOCK, "{size}");
        assert!(b - GRANULE < (size + HEADER).max(MIN_BLOCK), "not minimal for {size}");
    }
    assert_eq!(math::block_size(0), Some(MIN_BLOCK));
    assert_eq!(math::block_size(usize::MAX), None);
    assert_eq!(math::block_size(usize::MAX - HEADER - GRANULE + 2), None);
    assert!(math::block_size(isize::MAX as usize).is_some());
}

#[test]
fn first_block_is_lowest_header_slot_at_or_above_start() {
    let check = |start: usize| {
        let f = math::first_block(start).unwrap();
        assert_eq!(f % GRANULE, HEADER, "{start:#x}");
        assert!(f >= start && f - start < GRANULE, "{start:#x}");
    };
    (0..1000).for_each(check);
    (usize::MAX - 1000..usize::MAX - 2 * GRANULE).for_each(check);
    assert_eq!(math::first_block(usize::MAX), None);
}

#[test]
fn end_record_is_highest_slot_with_room_for_the_record() {
    let check = |end: usize| match math::end_record(end) {
        Some(r) => {
            assert_eq!(r % GRANULE, HEADER, "{end:#x}");
            assert!(r + RECORD <= end && (r + RECORD) as u128 + GRANULE as u128 > end as u128);
        }
        None => assert!(end < RECORD + HEADER, "{end:#x}"),
    };
    (0..1000).for_each(check);
    (usize::MAX - 1000..=usize::MAX).for_each(check);
}

#[test]
fn region_layout_accepts_min_region_size_at_every_base_and_no_less() {
    let min = FirstFit::MIN_REGION_SIZE;
    let mut refused_one_below = false;
    for base in 0x1000..0x1000 + 4 * GRANULE {
        assert!(math::region_layout(base, base + min).is_some(), "base {base:#x}");
        refused_one_below |= math::region_layout(base, base + min - 1).is_none();
        for len in 0..min + 2 * GRANULE {
            if let Some((first, rec)) = math::region_layout(base, base + len) {
                assert!(first >= base && rec + RECORD <= base + len);
                assert!(rec >= first + MIN_BLOCK);
            }
        }
    }
    assert!(refused_one_below, "MIN_REGION_SIZE is not the tight bound");
    assert_eq!(math::region_layout(usize::MAX - 10, usize::MAX), None);
}

#[test]
fn sizing_helpers_match_documented_promises() {
    assert_eq!(FirstFit::GRANULE, 2 * core::mem::size_of::<usize>());
    assert_eq!(FirstFit::overhead_per_allocation(), core::mem::size_of::<usize>());
    assert_eq!(FirstFit::min_region_size(), FirstFit::MIN_REGION_SIZE);
    let expected = if cfg!(target_pointer_width = "64") { 63 } else { 31 };
    assert_eq!(FirstFit::MIN_REGION_SIZE, expected);
    assert_eq!(FirstFit::region_size_for(layout(0, 1)), FirstFit::MIN_REGION_SIZE);
    for shift in 0..usize::BITS {
        let align = 1usize << shift;
        for size in [0, 1, 100, isize::MAX as usize - (align - 1)] {
            let Ok(l) = Layout::from_size_align(size, align) else { continue };
            let expected = math::block_size(size).unwrap() + align.max(GRANULE) - 1 + RECORD;
            assert_eq!(FirstFit::region_size_for(l), expected);
        }
    }
}

#[test]
fn overhead_per_allocation_is_what_an_allocation_costs() {
    let arena = filled(4096);
    let mut heap = heap_on(&arena);
    for size in [0usize, 1, 7, 8, 9, 15, 16, 17, 100, 1000] {
        let before = heap.free_bytes();
        let p = heap.allocate(layout(size, 1)).unwrap();
        let cost = before - heap.free_bytes();
        let promised = (size + FirstFit::overhead_per_allocation())
            .next_multiple_of(FirstFit::GRANULE)
            .max(FirstFit::GRANULE);
        assert_eq!(cost, promised, "size {size}");
        // SAFETY: `p` was allocated just now with this layout.
        unsafe { heap.deallocate(p, layout(size, 1)) };
    }
    assert_pristine(&heap);
}

#[test]
fn region_size_for_guarantees_one_allocation_at_every_base() {
    let sizes: &[usize] = if cfg!(miri) { &[0, 24, 100] } else { &[0, 1, 8, 24, 100, 255, 1000] };
    let aligns: &[usize] = if cfg!(miri) { &[1, 64] } else { &[1, 8, 16, 32, 64, 256, 1024] };
    for &size in sizes {
        for &align in aligns {
            let l = layout(size, align);
            let len = FirstFit::region_size_for(l);
            let arena = filled(len + 64);
            for off in (0..64).step_by(if cfg!(miri) { 9 } else { 1 }) {
                let mut heap = FirstFit::new();
                heap.claim(arena.region(off, len)).unwrap();
                let p = heap.allocate(l).unwrap_or_else(|| panic!("{l:?} at offset {off}"));
                assert_eq!(p.as_ptr().addr() % align, 0);
                heap.validate().unwrap();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Claim (catalogue A)
// ---------------------------------------------------------------------------------------------

#[test]
fn cat_a1_a2_every_length_and_offset_is_accepted_or_refused_without_stray_writes() {
    let min = FirstFit::MIN_REGION_SIZE;
    let arena = filled(64 + 4 * min + 64);
    // Miri: a sample (offsets around each granule phase, lengths around the minimum).
    let offsets: Vec<usize> =
        if cfg!(miri) { std::vec![0, 1, WORD, WORD + 1, 31, 63] } else { (0..64).collect() };
    let lens: Vec<usize> = if cfg!(miri) {
        (0..=4 * min).filter(|l| l.abs_diff(min) <= GRANULE || l % 37 == 0).collect()
    } else {
        (0..=4 * min).collect()
    };
    for &off in &offsets {
        for &len in &lens {
            arena.fill(FILL);
            let (start, end) = (arena.addr() + off, arena.addr() + off + len);
            // SAFETY: the bytes belong to `arena`; only this heap uses them.
            let Ok(region) = (unsafe { Region::new(arena.ptr().wrapping_add(off), len) }) else {
                assert_eq!(len, 0);
                continue;
            };
            let mut heap = FirstFit::new();
            let guards_intact = |what: &str| {
                for i in (0..off).chain(off + len..arena.len()) {
                    assert_eq!(
                        arena.byte(i),
                        FILL,
                        "{what}: byte {i} outside [{off}, {off}+{len})"
                    );
                }
            };
            match heap.claim(region) {
                Err(e) => {
                    assert_eq!(e, RegionError::TooSmall { min });
                    assert!(len < min, "{len} bytes at offset {off} refused");
                    assert!(arena.snapshot().iter().all(|&b| b == FILL));
                    assert_eq!(heap.allocate(layout(0, 1)), None);
                }
                Ok(usable) => {
                    let (first, rec) = math::region_layout(start, end).unwrap();
                    assert_eq!(usable, rec - first - HEADER, "{len} bytes at offset {off}");
                    heap.validate().unwrap();
                    let l = layout(usable, 1);
                    let p = heap.allocate(l).expect("the whole usable size is allocatable");
                    assert!(p.as_ptr().addr() >= start && p.as_ptr().addr() + usable <= end);
                    fill_block(p, usable, 0x11);
                    assert_eq!(heap.allocate(layout(0, 1)), None);
                    guards_intact("after claim and allocate");
                    // SAFETY: allocated above with `l`.
                    unsafe { heap.deallocate(p, l) };
                    assert_pristine(&heap);
                }
            }
            guards_intact("at the end");
        }
    }
}

#[test]
fn cat_a1_region_smaller_than_min_is_rejected() {
    let arena = filled(256);
    for len in 1..FirstFit::MIN_REGION_SIZE {
        // Offset 1 is the worst base: every length below the minimum is refused there.
        let off = (HEADER + 1) % GRANULE;
        let mut heap = FirstFit::new();
        let r = heap.claim(arena.region(off, len));
        assert_eq!(r, Err(RegionError::TooSmall { min: FirstFit::MIN_REGION_SIZE }), "{len}");
        heap.validate().unwrap();
    }
    assert!(arena.snapshot().iter().all(|&b| b == FILL));
}

#[test]
fn cat_a3_region_at_top_of_address_space_is_refused_without_access() {
    // Fake addresses: the claim must fail on arithmetic alone, before touching memory.
    // The worst base below the top of the address space, with one byte less than the minimum.
    let worst = ((usize::MAX - 256) & !(GRANULE - 1)) + HEADER + 1;
    let min = FirstFit::MIN_REGION_SIZE;
    // Below one minimal block plus the end record: refused at any base.
    let below = MIN_BLOCK + RECORD - 1;
    for (addr, len) in [(usize::MAX - below, below), (worst, min - 1), (usize::MAX - 1, 1), (16, 8)]
    {
        // SAFETY: the region is refused before any byte is accessed (checked below).
        let region = unsafe { Region::new(ptr::without_provenance_mut(addr), len) }.unwrap();
        let mut heap = FirstFit::new();
        assert!(matches!(heap.claim(region), Err(RegionError::TooSmall { .. })), "{addr:#x}");
        heap.validate().unwrap();
    }
}

#[test]
fn cat_a4_overlapping_region_is_refused_and_nothing_written() {
    let arena = filled(1024);
    let mut heap = FirstFit::new();
    heap.claim(arena.region(256, 256)).unwrap();
    let before = arena.snapshot();
    let free_before = free_blocks(&heap);
    for (off, len) in [(256, 256), (0, 257), (511, 100), (300, 100), (0, 1024), (200, 400)] {
        assert_eq!(heap.claim(arena.region(off, len)), Err(RegionError::Overlap), "{off}+{len}");
        assert_eq!(arena.snapshot(), before, "a refused claim wrote memory");
        assert_eq!(free_blocks(&heap), free_before);
        heap.validate().unwrap();
    }
    // Touching but not overlapping is fine (and merges).
    heap.claim(arena.region(0, 256)).unwrap();
    heap.claim(arena.region(512, 512)).unwrap();
    assert_eq!(heap.region_count, 1);
    assert_pristine(&heap);
}

#[test]
fn cat_a5_allocate_before_claim_returns_none() {
    let mut heap = FirstFit::new();
    for align in [1, 16, 4096] {
        assert_eq!(heap.allocate(layout(0, align)), None);
        assert_eq!(heap.allocate(layout(100, align)), None);
    }
    let mut x = 0u128;
    let p = NonNull::from(&mut x).cast::<u8>();
    // SAFETY: deliberately invalid: the empty heap must ignore it without touching it.
    unsafe { heap.deallocate(p, layout(16, 16)) };
    assert_eq!(take_invalid().map(|(_, r)| r), Some("pointer outside every region"));
    heap.validate().unwrap();
    assert_eq!((heap.free_bytes(), heap.largest_free_block()), (0, 0));
}

#[test]
fn cat_a6_region_starting_where_another_ends_is_merged() {
    let arena = filled(2048);
    let mut upper = arena.region(0, 2048);
    let lower = upper.split_off_front(1000).unwrap();
    let mut heap = FirstFit::new();
    let a = heap.claim(lower).unwrap();
    let b = heap.claim(upper).unwrap();
    assert_eq!(heap.region_count, 1);
    assert_pristine(&heap);
    assert_eq!(heap.free_bytes(), a + b);
    // One block now spans the seam at offset 1000.
    let big = layout(heap.largest_free_block(), 8);
    assert!(big.size() > 1500);
    let p = heap.allocate(big).unwrap();
    fill_block(p, big.size(), 3);
    check_block(p, big.size(), 3);
    // SAFETY: allocated above with `big`.
    unsafe { heap.deallocate(p, big) };
    assert_pristine(&heap);
}

#[test]
fn cat_a6_region_ending_where_another_starts_is_merged() {
    let arena = filled(2048);
    let mut upper = arena.region(8, 2040);
    let lower = upper.split_off_front(777).unwrap();
    let mut heap = FirstFit::new();
    let p = {
        heap.claim(upper).unwrap();
        let p = heap.allocate(layout(100, 16)).unwrap();
        heap.claim(lower).unwrap();
        p
    };
    assert_eq!(heap.region_count, 1);
    heap.validate().unwrap();
    // SAFETY: allocated above.
    unsafe { heap.deallocate(p, layout(100, 16)) };
    assert_pristine(&heap);
}

#[test]
fn cat_a6_region_filling_a_gap_merges_both_sides() {
    let arena = filled(3000);
    let mut rest = arena.region(0, 3000);
    let a = rest.split_off_front(1000).unwrap();
    let b = rest.split_off_front(1000).unwrap();
    let mut heap = FirstFit::new();
    heap.claim(a).unwrap();
    let in_a = heap.allocate(layout(10, 1)).unwrap();
    heap.claim(rest).unwrap();
    assert_eq!(heap.region_count, 2);
    heap.validate().unwrap();
    heap.claim(b).unwrap();
    assert_eq!(heap.region_count, 1);
    heap.validate().unwrap();
    // SAFETY: allocated above.
    unsafe { heap.deallocate(in_a, layout(10, 1)) };
    assert_pristine(&heap);
    assert!(heap.largest_free_block() > 2900);
}

#[test]
fn claim_separate_regions_stay_separate_and_reject_frees_in_the_gap() {
    let arena = filled(4096);
    let mut heap = FirstFit::new();
    heap.claim(arena.region(2048, 1024)).unwrap();
    heap.claim(arena.region(0, 1024)).unwrap();
    heap.claim(arena.region(3584, 512)).unwrap();
    assert_eq!(heap.region_count, 3);
    heap.validate().unwrap();
    // Fill all three regions.
    let l = layout(48, 16);
    let mut blocks = Vec::new();
    while let Some(p) = heap.allocate(l) {
        blocks.push(p);
    }
    assert!(blocks.iter().any(|p| p.as_ptr().addr() < arena.addr() + 1024));
    assert!(blocks.iter().any(|p| p.as_ptr().addr() > arena.addr() + 3584));
    // A pointer into the gap between regions is refused and nothing changes.
    let before = arena.snapshot();
    let gap = NonNull::new(arena.ptr().wrapping_add(1536)).unwrap();
    // SAFETY: deliberately invalid.
    unsafe { heap.deallocate(gap, l) };
    assert_eq!(take_invalid().map(|(_, r)| r), Some("pointer outside every region"));
    assert_eq!(arena.snapshot(), before);
    for p in blocks {
        // SAFETY: each block was allocated above with `l`, freed once.
        unsafe { heap.deallocate(p, l) };
        heap.validate().unwrap();
    }
    assert_eq!(take_invalid(), None);
    assert_pristine(&heap);
}

#[test]
fn claim_returns_growth_of_free_bytes() {
    let arena = filled(4096);
    let mut heap = FirstFit::new();
    let mut total = 0;
    for (off, len) in [(1024, 1000), (2024, 500), (0, 1024), (3000, 1096)] {
        let before = heap.free_bytes();
        let got = heap.claim(arena.region(off, len)).unwrap();
        assert_eq!(heap.free_bytes() - before, got);
        total += got;
        heap.validate().unwrap();
    }
    assert_eq!(heap.free_bytes(), total);
    assert_pristine(&heap);
}

// ---------------------------------------------------------------------------------------------
// Allocate (catalogue B, E)
// ---------------------------------------------------------------------------------------------

#[test]
fn cat_e1_allocate_until_exhausted_returns_none_then_recovers() {
    let arena = filled(4096);
    let mut heap = heap_on(&arena);
    for round in 0..3 {
        let l = layout(40 + round * 24, 8);
        let mut blocks = Vec::new();
        while let Some(p) = heap.allocate(l) {
            assert!(arena.holds(p.as_ptr(), l.size()));
            fill_block(p, l.size(), blocks.len() as u8);
            blocks.push(p);
            heap.validate().unwrap();
        }
        assert!(blocks.len() >= 4096 / (l.size() + 2 * GRANULE));
        assert_eq!(heap.allocate(l), None, "still exhausted");
        // Free every other block, then the rest: coalescing must restore the whole heap.
        for (i, p) in blocks.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            check_block(*p, l.size(), i as u8);
            // SAFETY: allocated above with `l`, freed once.
            unsafe { heap.deallocate(*p, l) };
        }
        heap.validate().unwrap();
        for (i, p) in blocks.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
            check_block(*p, l.size(), i as u8);
            // SAFETY: as above.
            unsafe { heap.deallocate(*p, l) };
        }
        heap.validate().unwrap();
    }
}

#[test]
fn cat_b1_zero_size_allocations_are_unique_and_freeable() {
    let arena = filled(32 * 1024);
    let mut heap = heap_on(&arena);
    for align in [1usize, 8, 16, 64, 256] {
        let l = layout(0, align);
        let mut seen = Vec::new();
        for _ in 0..if cfg!(miri) { 20 } else { 1000 } {
            let Some(p) = heap.allocate(l) else { break };
            assert_eq!(p.as_ptr().addr() % align, 0);
            assert!(!seen.contains(&p), "zero-size block handed out twice");
            seen.push(p);
        }
        assert!(seen.len() >= 20);
        heap.validate().unwrap();
        for p in seen {
            // SAFETY: allocated above with `l`, freed once.
            unsafe { heap.deallocate(p, l) };
        }
        assert_pristine(&heap);
    }
}

#[test]
fn cat_b2_b3_layout_grid_never_panics_and_results_are_valid() {
    let arena = filled(64 * 1024);
    let mut heap = heap_on(&arena);
    let mut sizes = std::vec![0usize, 1, 2, 3, 7, 8, 9, 15, 16, 17, 1000, 65535, 65536];
    for k in [20u32, 31, 40, 62] {
        if k < usize::BITS {
            sizes.extend([(1usize << k) - 1, 1 << k, (1 << k) + 1]);
        }
    }
    let mut results = 0;
    for shift in 0..usize::BITS {
        let align = 1usize << shift;
        let top = isize::MAX as usize - (align - 1);
        let tops = [top, top.saturating_sub(1), top.saturating_sub(4096)];
        for &size in sizes.iter().chain(tops.iter()) {
            let Ok(l) = Layout::from_size_align(size, align) else { continue };
            match heap.allocate(l) {
                None => {}
                Some(p) => {
                    results += 1;
                    assert_eq!(p.as_ptr().addr() % align, 0, "{l:?}");
                    assert!(arena.holds(p.as_ptr(), size), "{l:?}");
                    heap.validate().unwrap();
                    // SAFETY: allocated just now with `l`.
                    unsafe { heap.deallocate(p, l) };
                }
            }
        }
    }
    assert!(results > 100, "the grid allocated almost nothing: {results}");
    assert_pristine(&heap);
}

#[test]
fn cat_b4_exact_fit_succeeds_and_one_more_byte_fails() {
    for len in [256usize, 1000, 4096] {
        let arena = filled(len);
        let mut heap = heap_on(&arena);
        let max = heap.largest_free_block();
        assert_eq!(heap.free_bytes(), max);
        assert_eq!(heap.allocate(layout(max + 1, 1)), None);
        let p = heap.allocate(layout(max, 1)).unwrap();
        fill_block(p, max, 9);
        assert_eq!(heap.allocate(layout(0, 1)), None);
        assert_eq!(heap.free_bytes(), 0);
        heap.validate().unwrap();
        // SAFETY: allocated above.
        unsafe { heap.deallocate(p, layout(max, 1)) };
        assert_pristine(&heap);
    }
}

#[test]
fn cat_b5_sizes_across_large_thresholds_round_trip() {
    // The header holds a full `usize`: no encoding threshold, but check sizes around 2^16,
    // 2^20 and 2^24 anyway (a 32 MiB arena; 1 MiB under Miri).
    let len = if cfg!(miri) { 1 << 20 } else { 32 << 20 };
    let arena = filled(len);
    let mut heap = heap_on(&arena);
    for k in [16u32, 20, 24] {
        for size in [(1usize << k) - 1, 1 << k, (1 << k) + 1] {
            let l = layout(size, 8);
            let Some(p) = heap.allocate(l) else {
                assert!(size > heap.largest_free_block(), "{size} refused");
                continue;
            };
            assert!(arena.holds(p.as_ptr(), size));
            // Touch both ends: the block really has `size` bytes.
            fill_block(p, 64, 1);
            // SAFETY: `p` is live with at least `size >= 64` bytes.
            let tail = unsafe { NonNull::new_unchecked(p.as_ptr().add(size - 64)) };
            fill_block(tail, 64, 2);
            heap.validate().unwrap();
            // SAFETY: `p` is live with `l`; the grow moves or fails, either leaves a live block.
            let p = unsafe { heap.grow(p, l, size * 2) }.unwrap_or(p);
            check_block(p, 64, 1);
            heap.validate().unwrap();
            // SAFETY: freed once; the heap uses its own header for the size.
            unsafe { heap.deallocate(p, l) };
            assert_pristine(&heap);
        }
    }
}

#[test]
fn allocate_high_alignment_keeps_the_gaps_free() {
    let arena = filled(16 * 1024);
    for align in [32usize, 64, 128, 256, 1024, 4096] {
        for size in [1usize, 100, 1000] {
            let mut heap = heap_on(&arena);
            let total = |h: &FirstFit| free_blocks(h).iter().map(|b| b.1).sum::<usize>();
            let before = total(&heap);
            let p = heap.allocate(layout(size, align)).unwrap();
            assert_eq!(p.as_ptr().addr() % align, 0);
            heap.validate().unwrap();
            // The block costs exactly its own size: padding before and after stays free.
            assert_eq!(before - total(&heap), math::block_size(size).unwrap(), "{size}@{align}");
            // SAFETY: allocated above.
            unsafe { heap.deallocate(p, layout(size, align)) };
            assert_pristine(&heap);
        }
    }
}

#[test]
fn allocate_alignment_beyond_the_region_returns_none() {
    let arena = filled(1024);
    let mut heap = heap_on(&arena);
    for shift in 20..usize::BITS {
        assert_eq!(heap.allocate(layout(0, 1 << shift)), None);
    }
    assert_pristine(&heap);
}

// ---------------------------------------------------------------------------------------------
// Deallocate (catalogue C, E3)
// ---------------------------------------------------------------------------------------------

#[test]
fn deallocate_coalesces_with_both_neighbours() {
    let arena = filled(2048);
    let mut heap = heap_on(&arena);
    let l = layout(64, 8);
    let [a, b, c, d] = [(); 4].map(|_| heap.allocate(l).unwrap());
    // Carved from the low end: a < b < c < d in address order.
    assert!(a < b && b < c && c < d);
    // SAFETY: each block was allocated above with `l` and is freed once.
    unsafe {
        heap.deallocate(a, l);
        heap.deallocate(c, l);
        assert_eq!(free_blocks(&heap).len(), 3, "a and c touch no free block");
        heap.deallocate(b, l);
        assert_eq!(free_blocks(&heap).len(), 2, "b merged with a below and c above");
        heap.validate().unwrap();
        heap.deallocate(d, l);
        assert_eq!(free_blocks(&heap).len(), 1, "d merged with the rest and the big block");
    }
    assert_pristine(&heap);
}

#[test]
fn cat_c1_double_free_is_ignored_and_reported() {
    let arena = filled(2048);
    let mut heap = heap_on(&arena);
    let l = layout(100, 8);
    let [a, b, c] = [(); 3].map(|_| heap.allocate(l).unwrap());
    // SAFETY: first frees are valid; the repeated ones are the deliberate misuse under test.
    unsafe {
        // Immediate double free, of a block that merged with a free neighbour…
        heap.deallocate(b, l);
        let before = arena.snapshot();
        heap.deallocate(b, l);
        assert_eq!(take_invalid(), Some((b.as_ptr().addr(), "block not allocated (double free?)")));
        assert_eq!(arena.snapshot(), before);
        heap.validate().unwrap();
        // …and of one that did not.
        heap.deallocate(a, l);
        heap.deallocate(a, l);
        assert!(take_invalid().is_some());
        // Delayed: other operations in between.
        let x = heap.allocate(layout(16, 8)).unwrap();
        heap.deallocate(x, layout(16, 8));
        let before = arena.snapshot();
        heap.deallocate(b, l);
        heap.deallocate(x, layout(16, 8));
        assert!(take_invalid().is_some());
        assert_eq!(arena.snapshot(), before);
        heap.deallocate(c, l);
    }
    assert_eq!(take_invalid(), None);
    assert_pristine(&heap);
}

#[test]
fn cat_c2_foreign_pointer_free_is_ignored_and_reported() {
    #[repr(align(16))]
    struct Aligned(#[allow(dead_code)] [u8; 64]);
    static mut STATIC: Aligned = Aligned([0; 64]);
    let arena = filled(1024);
    let other_arena = filled(1024);
    let mut heap = heap_on(&arena);
    let mut other = heap_on(&other_arena);
    let own = heap.allocate(layout(32, 16)).unwrap();
    let mut local = Aligned([0; 64]);
    let end = arena.addr() + arena.len();
    let foreign: [*mut u8; 6] = [
        (&raw mut local).cast(),
        (&raw mut STATIC).cast(),
        other.allocate(layout(32, 16)).unwrap().as_ptr(),
        ptr::without_provenance_mut(end),
        ptr::without_provenance_mut(end + GRANULE),
        ptr::without_provenance_mut(GRANULE),
    ];
    let before = arena.snapshot();
    for p in foreign {
        // SAFETY: deliberately invalid: the heap must refuse without touching `p`.
        unsafe { heap.deallocate(NonNull::new(p).unwrap(), layout(32, 16)) };
        let (addr, reason) = take_invalid().expect("foreign free not reported");
        assert_eq!(addr, p.addr());
        assert!(reason == "pointer outside every region" || reason.contains("aligned"), "{reason}");
        // SAFETY: as above.
        assert_eq!(unsafe { heap.grow(NonNull::new(p).unwrap(), layout(32, 16), 64) }, None);
        // SAFETY: as above.
        assert_eq!(unsafe { heap.shrink(NonNull::new(p).unwrap(), layout(32, 16), 8) }, None);
        assert_eq!(arena.snapshot(), before);
        heap.validate().unwrap();
    }
    let _ = take_invalid();
    // SAFETY: allocated above.
    unsafe { heap.deallocate(own, layout(32, 16)) };
    assert_pristine(&heap);
    other.validate().unwrap();
}

#[test]
fn cat_c3_interior_and_misaligned_pointers_are_ignored_and_reported() {
    let arena = filled(2048);
    let mut heap = heap_on(&arena);
    let l = layout(256, 16);
    let p = heap.allocate(l).unwrap();
    let q = heap.allocate(l).unwrap();
    // SAFETY: `q` is live; freeing it leaves a free block to point into as well.
    unsafe { heap.deallocate(q, l) };
    for pattern in [0x00u8, 0xFF, 0xAB, 0x5A] {
        // SAFETY: `p` is a live 256-byte block.
        unsafe { p.as_ptr().write_bytes(pattern, 256) };
        let before = arena.snapshot();
        let base = p.as_ptr();
        for off in [1usize, 3, WORD, GRANULE, 2 * GRANULE, 128, 240] {
            for target in [base, q.as_ptr()] {
                let bad = NonNull::new(target.wrapping_add(off)).unwrap();
                // SAFETY: deliberately invalid: interior pointers must be refused.
                unsafe { heap.deallocate(bad, layout(8, 1)) };
                assert!(take_invalid().is_some(), "interior free +{off} ({pattern:#x}) missed");
                assert_eq!(arena.snapshot(), before);
            }
        }
        heap.validate().unwrap();
    }
    // SAFETY: allocated above.
    unsafe { heap.deallocate(p, l) };
    assert_pristine(&heap);
}

#[test]
fn cat_c4_wrong_layout_on_free_cannot_corrupt_neighbours() {
    let arena = filled(8192);
    let mut heap = heap_on(&arena);
    let sizes = [1usize, 16, 24, 100, 1000];
    for &(s, a) in &[(8usize, 8usize), (100, 16), (1000, 64), (17, 1)] {
        for &wrong in &sizes {
            let guard_lo = heap.allocate(layout(32, 8)).unwrap();
            let p = heap.allocate(layout(s, a)).unwrap();
            let guard_hi = heap.allocate(layout(32, 8)).unwrap();
            fill_block(guard_lo, 32, 1);
            fill_block(guard_hi, 32, 2);
            // SAFETY: the block is live; only the layout is wrong (the misuse under test).
            unsafe { heap.deallocate(p, layout(wrong, 1 << (wrong % 7))) };
            heap.validate().unwrap();
            check_block(guard_lo, 32, 1);
            check_block(guard_hi, 32, 2);
            // SAFETY: allocated above with this layout.
            unsafe {
                heap.deallocate(guard_lo, layout(32, 8));
                heap.deallocate(guard_hi, layout(32, 8));
            }
        }
    }
    assert_pristine(&heap);
}

#[test]
fn cat_e3_free_everything_in_any_order_returns_one_pristine_block() {
    let arena = filled(16 * 1024);
    let mut heap = heap_on(&arena);
    let pristine = free_blocks(&heap);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..if cfg!(miri) { 3 } else { 30 } {
        let mut live = Vec::new();
        while let Some(p) = heap.allocate(layout(rng.below(300), 1 << rng.below(7))) {
            live.push(p);
            if live.len() > 60 {
                break;
            }
        }
        while !live.is_empty() {
            let p = live.swap_remove(rng.below(live.len()));
            // SAFETY: allocated above; the layout is not used by FirstFit (header size).
            unsafe { heap.deallocate(p, layout(1, 1)) };
        }
        assert_eq!(take_invalid(), None);
        assert_pristine(&heap);
        assert_eq!(free_blocks(&heap), pristine);
    }
}

// ---------------------------------------------------------------------------------------------
// Grow and shrink (catalogue D)
// ---------------------------------------------------------------------------------------------

#[test]
fn grow_into_free_neighbour_stays_in_place() {
    let arena = filled(4096);
    let mut heap = heap_on(&arena);
    let l = layout(64, 8);
    // Carved from the low end of the free block: below < p < above.
    let below = heap.allocate(l).unwrap();
    let p = heap.allocate(l).unwrap();
    let above = heap.allocate(l).unwrap();
    assert!(below < p && p < above);
    // SAFETY: live blocks, each freed or grown once.
    unsafe {
        heap.deallocate(above, l); // the neighbour after `p` is now free
        fill_block(p, 64, 5);
        // Take part of the neighbour: the rest stays free.
        let g = heap.grow(p, l, 100).unwrap();
        assert_eq!(g, p, "grow moved although the next block was free");
        check_block(g, 64, 5);
        heap.validate().unwrap();
        // Take the rest of the neighbour exactly: no remainder is left.
        let rest = free_blocks(&heap).into_iter().find(|&(b, _)| b > p.as_ptr().addr()).unwrap();
        let all = (rest.0 + rest.1) - p.as_ptr().addr();
        let g2 = heap.grow(g, layout(100, 8), all).unwrap();
        assert_eq!(g2, p);
        check_block(g2, 64, 5);
        fill_block(g2, all, 6);
        heap.validate().unwrap();
        heap.deallocate(g2, layout(all, 8));
        heap.deallocate(below, l);
    }
    assert_pristine(&heap);
}

#[test]
fn cat_d1_d2_moving_grow_keeps_contents_and_alignment() {
    let arena = filled(8192);
    let mut heap = heap_on(&arena);
    for align in [1usize, 16, 64, 256, 1024] {
        let l = layout(40, align);
        let p = heap.allocate(l).unwrap();
        // Allocate small blockers until one sits right after `p` (with a large alignment the
        // first ones fill the gap below `p`), so `p` cannot grow in place.
        let mut blockers = std::vec::Vec::new();
        loop {
            let b = heap.allocate(layout(8, 8)).unwrap();
            blockers.push(b);
            if b > p {
                break;
            }
        }
        fill_block(p, 40, 7);
        // Larger than `p`'s block plus any trailing alignment gap: cannot grow in place.
        // SAFETY: `p` is live with layout `l`.
        let g = unsafe { heap.grow(p, l, 2000) }.unwrap();
        assert_ne!(g, p);
        assert_eq!(g.as_ptr().addr() % align, 0, "D2: alignment lost on a moving grow");
        check_block(g, 40, 7);
        heap.validate().unwrap();
        // SAFETY: live blocks, freed once.
        unsafe {
            heap.deallocate(g, layout(2000, align));
            for b in blockers {
                heap.deallocate(b, layout(8, 8));
            }
        }
        assert_pristine(&heap);
    }
}

#[test]
fn cat_d3_d4_failed_grow_keeps_the_old_block() {
    let arena = filled(1024);
    let mut heap = heap_on(&arena);
    let l = layout(200, 8);
    let p = heap.allocate(l).unwrap();
    fill_block(p, 200, 8);
    for new_size in [2000usize, 1 << 20, isize::MAX as usize - 7, isize::MAX as usize, usize::MAX] {
        // SAFETY: `p` is live with `l`; the grow fails and leaves it live.
        assert_eq!(unsafe { heap.grow(p, l, new_size) }, None, "{new_size}");
        check_block(p, 200, 8);
        heap.validate().unwrap();
    }
    // SAFETY: still live.
    unsafe { heap.deallocate(p, l) };
    assert_pristine(&heap);
}

#[test]
fn cat_d5_grow_at_region_end_never_passes_the_end_record() {
    let arena = filled(1024);
    let mut heap = heap_on(&arena);
    let l = layout(64, 8);
    // A block at the low end (freed later to make room for the move), a filler, and `p`,
    // which takes exactly the last `block_size(64)` bytes: the end record follows it.
    let first = heap.allocate(layout(256, 8)).unwrap();
    let (_, rest) = free_blocks(&heap)[0];
    let bs = math::block_size(64).unwrap();
    let fill = heap.allocate(layout(rest - HEADER - bs, 8)).unwrap();
    let p = heap.allocate(l).unwrap();
    let (_, rec) = regions(&heap)[0];
    assert_eq!(p.as_ptr().addr() - HEADER + bs, rec);
    // SAFETY: `first` is live; its 256-byte hole is where `p` can move.
    unsafe { heap.deallocate(first, layout(256, 8)) };
    fill_block(p, 64, 4);
    // SAFETY: `p` is live.
    let g = unsafe { heap.grow(p, l, 128) }.unwrap();
    assert_ne!(g, p);
    check_block(g, 64, 4);
    heap.validate().unwrap();
    // Same size and shrink to 1 stay in place.
    // SAFETY: `g` is live with size 128.
    unsafe {
        assert_eq!(heap.grow(g, layout(128, 8), 128), Some(g));
        assert_eq!(heap.shrink(g, layout(128, 8), 128), Some(g));
        let s = heap.shrink(g, layout(128, 8), 1).unwrap();
        assert_eq!(s, g);
        heap.validate().unwrap();
        heap.deallocate(s, layout(1, 8));
        heap.deallocate(fill, layout(rest - HEADER - bs, 8));
    }
    assert_pristine(&heap);
}

#[test]
fn shrink_in_place_frees_the_tail_and_merges_it() {
    let arena = filled(4096);
    let mut heap = heap_on(&arena);
    let big = layout(1024, GRANULE);
    let p = heap.allocate(big).unwrap();
    let below = heap.allocate(layout(16, GRANULE)).unwrap();
    fill_block(p, 1024, 1);
    let before = heap.free_bytes();
    // SAFETY: `p` is live with `big`.
    let s = unsafe { heap.shrink(p, big, 100) }.unwrap();
    assert_eq!(s, p, "shrink moved");
    check_block(s, 100, 1);
    heap.validate().unwrap();
    let freed = math::block_size(1024).unwrap() - math::block_size(100).unwrap();
    // The tail is followed by the end record, so it becomes a free block of its own.
    assert_eq!(heap.free_bytes(), before + freed - HEADER);
    // Shrink again: this tail merges with the free tail behind it.
    // SAFETY: `s` is live with size 100.
    let s2 = unsafe { heap.shrink(s, layout(100, GRANULE), 10) }.unwrap();
    assert_eq!(s2, p);
    assert_eq!(free_blocks(&heap).len(), 2);
    heap.validate().unwrap();
    // SAFETY: live blocks, freed once.
    unsafe {
        heap.deallocate(s2, layout(10, GRANULE));
        heap.deallocate(below, layout(16, GRANULE));
    }
    assert_pristine(&heap);
}

// ---------------------------------------------------------------------------------------------
// validate(): planted corruption (negative controls, G3)
// ---------------------------------------------------------------------------------------------

/// A heap with used and free blocks: `[free][used a][free][used b][free(c)][used d]…`.
fn fragmented(arena: &Arena) -> (FirstFit, [NonNull<u8>; 3]) {
    let mut heap = heap_on(arena);
    let l = layout(48, 8);
    let blocks: Vec<_> = (0..6).map(|_| heap.allocate(l).unwrap()).collect();
    // SAFETY: live blocks, each freed once.
    unsafe {
        heap.deallocate(blocks[1], l);
        heap.deallocate(blocks[3], l);
    }
    heap.validate().unwrap();
    (heap, [blocks[0], blocks[2], blocks[4]])
}

fn expect_corruption(heap: &FirstFit, prefix: &str) {
    let err = heap.validate().expect_err("planted corruption not found");
    assert!(err.what.starts_with(prefix), "expected {prefix}, got {err}");
}

#[test]
fn cat_g3_validate_finds_planted_header_corruption() {
    let arena = filled(2048);
    for (word, prefix) in
        [(0usize, "FF"), (4096 | USED, "FF4"), (USED | 4, "FF3"), (USED | END, "FF3")]
    {
        let (heap, used) = fragmented(&arena);
        // SAFETY: `used[1]` is a live block of this arena; we overwrite its header on purpose.
        unsafe { write_word(used[1].as_ptr().wrapping_sub(HEADER), word) };
        expect_corruption(&heap, prefix);
    }
}

#[test]
fn cat_g3_validate_finds_unlinked_and_adjacent_free_blocks() {
    let arena = filled(2048);
    // A used block marked free without being linked: adjacent to a free block, and not in
    // the list.
    let (heap, used) = fragmented(&arena);
    let hdr = used[1].as_ptr().wrapping_sub(HEADER);
    // SAFETY: header of a live block in the arena, rewritten on purpose.
    unsafe { write_word(hdr, read_word(hdr) & !USED) };
    expect_corruption(&heap, "FF");
    // A free block whose link skips the next free block.
    let (heap, _) = fragmented(&arena);
    // SAFETY: `heap.free` is a free block of the arena; its link is overwritten on purpose.
    unsafe { header_to_link(heap.free).write(ptr::null_mut()) };
    expect_corruption(&heap, "FF1");
    // A list entry pointing outside every region.
    let (heap, _) = fragmented(&arena);
    let mut last = heap.free;
    // SAFETY: walking the valid list to its last entry.
    while let Some(next) = NonNull::new(unsafe { header_to_link(last).read() }) {
        last = next.as_ptr();
    }
    // SAFETY: as above; the link is overwritten on purpose (never dereferenced by validate).
    unsafe { header_to_link(last).write(ptr::without_provenance_mut(0x10)) };
    expect_corruption(&heap, "FF1");
}

#[test]
fn cat_g3_validate_finds_damaged_end_record_and_stale_bookkeeping() {
    let arena = filled(2048);
    let (heap, _) = fragmented(&arena);
    // SAFETY: the end record lives in the arena; overwritten on purpose (a stack overflow).
    unsafe { write_word(heap.regions, 0) };
    expect_corruption(&heap, "FF4");
    let (heap, _) = fragmented(&arena);
    // SAFETY: as above: a wrong region end.
    unsafe { record_to_end(heap.regions).write(heap.regions.addr() + 4096) };
    expect_corruption(&heap, "FF4");
    let (mut heap, _) = fragmented(&arena);
    heap.region_count = 2;
    expect_corruption(&heap, "FF5");
    // Damaged record fields must be caught before the walk follows them anywhere.
    let (heap, _) = fragmented(&arena);
    // SAFETY: as above: a region start of 0 would make the walk begin at address 8.
    unsafe { record_to_start(heap.regions).write(0) };
    expect_corruption(&heap, "FF5");
    let (heap, _) = fragmented(&arena);
    // SAFETY: as above: a wild next-record link.
    unsafe { record_to_next(heap.regions).write(ptr::without_provenance_mut(usize::MAX - 7)) };
    expect_corruption(&heap, "FF5");
}

// ---------------------------------------------------------------------------------------------
// Randomized shadow-model test
// ---------------------------------------------------------------------------------------------

struct Live {
    ptr: NonNull<u8>,
    size: usize,
    align: usize,
    seed: u8,
}

struct Model<'a> {
    arena: &'a Arena,
    heap: FirstFit,
    live: Vec<Live>,
    rng: Rng,
    stats: [usize; 5],
}

impl Model<'_> {
    fn random_layout(&mut self) -> Layout {
        // Mostly small, some medium, a few large (smaller under Miri, where every byte
        // filled and checked costs).
        let large = if cfg!(miri) { 512 } else { 3584 };
        let size = match self.rng.below(10) {
            0..=5 => self.rng.below(64),
            6..=8 => 64 + self.rng.below(448),
            _ => 512 + self.rng.below(large),
        };
        let align = if self.rng.below(8) == 0 {
            1 << (5 + self.rng.below(6))
        } else {
            1 << self.rng.below(5)
        };
        layout(size, align)
    }

    /// Checks a block the heap returned against the shadow: aligned, in bounds, no overlap.
    fn admit(&self, p: NonNull<u8>, l: Layout, skip: Option<usize>) {
        let a = p.as_ptr().addr();
        assert_eq!(a % l.align(), 0, "misaligned {l:?}");
        assert!(self.arena.holds(p.as_ptr(), l.size()), "out of bounds {l:?}");
        let end = a + l.size().max(1);
        for (i, b) in self.live.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            let (bs, be) = (b.ptr.as_ptr().addr(), b.ptr.as_ptr().addr() + b.size.max(1));
            assert!(end <= bs || be <= a, "overlap: {a:#x}+{} with {bs:#x}+{}", l.size(), b.size);
        }
    }

    fn step(&mut self) {
        let op = self.rng.below(100);
        if op < 45 || self.live.is_empty() {
            let l = self.random_layout();
            if let Some(p) = self.heap.allocate(l) {
                self.admit(p, l, None);
                let seed = self.rng.next() as u8;
                fill_block(p, l.size(), seed);
                self.live.push(Live { ptr: p, size: l.size(), align: l.align(), seed });
                self.stats[0] += 1;
            }
        } else if op < 80 {
            let b = self.live.swap_remove(self.rng.below(self.live.len()));
            check_block(b.ptr, b.size, b.seed);
            // SAFETY: a live block of this heap, with its layout, freed once.
            unsafe { self.heap.deallocate(b.ptr, layout(b.size, b.align)) };
            self.stats[1] += 1;
        } else {
            let i = self.rng.below(self.live.len());
            let (old, seed) = (layout(self.live[i].size, self.live[i].align), self.live[i].seed);
            let grow = op < 90;
            let new_size = if grow {
                old.size() + self.rng.below(old.size() + 128)
            } else {
                self.rng.below(old.size() + 1)
            };
            let p = self.live[i].ptr;
            // SAFETY: `p` is live with layout `old`; `new_size` is on the right side of it.
            let r = unsafe {
                if grow {
                    self.heap.grow(p, old, new_size)
                } else {
                    self.heap.shrink(p, old, new_size)
                }
            };
            match r {
                Some(q) => {
                    self.admit(q, layout(new_size, old.align()), Some(i));
                    check_block(q, old.size().min(new_size), seed);
                    fill_block(q, new_size, seed);
                    self.live[i] = Live { ptr: q, size: new_size, align: old.align(), seed };
                    self.stats[if q == p { 2 } else { 3 }] += 1;
                }
                None => {
                    assert!(grow, "shrink failed");
                    check_block(p, old.size(), seed);
                    self.stats[4] += 1;
                }
            }
        }
        if let Err(e) = self.heap.validate() {
            panic!("after op: {e}");
        }
        assert_eq!(take_invalid(), None, "a valid operation was reported as invalid");
    }

    fn drain(&mut self) {
        while let Some(b) = self.live.pop() {
            check_block(b.ptr, b.size, b.seed);
            // SAFETY: live block, freed once.
            unsafe { self.heap.deallocate(b.ptr, layout(b.size, b.align)) };
        }
        assert_pristine(&self.heap);
    }
}

#[test]
fn random_ops_single_region_match_shadow_model() {
    let ops = if cfg!(miri) { 150 } else { 50_000 };
    let seeds: &[u64] = if cfg!(miri) { &[1] } else { &[1, 0xDEAD_BEEF] };
    for &seed in seeds {
        let arena = filled(64 * 1024);
        let mut m = Model {
            arena: &arena,
            heap: heap_on(&arena),
            live: Vec::new(),
            rng: Rng(seed),
            stats: [0; 5],
        };
        for _ in 0..ops {
            m.step();
        }
        // The run must have exercised every path, or it proves little.
        let [alloc, free, in_place, moved, failed] = m.stats;
        assert!(alloc > ops / 4 && free > ops / 5 && in_place > 0 && moved > 0, "{:?}", m.stats);
        let _ = failed;
        m.drain();
    }
}

#[test]
fn random_ops_with_region_claims_match_shadow_model() {
    let ops = if cfg!(miri) { 150 } else { 50_000 };
    let arena = filled(96 * 1024);
    // Pieces of 4 KiB..16 KiB: some touch (and merge), some leave a gap. Claimed in a shuffled
    // order as the test runs.
    let mut rng = Rng(0x1234_5678);
    let mut pieces = Vec::new();
    let mut off = 0;
    while off + 4096 <= arena.len() {
        let len = (4096 + rng.below(12 * 1024)).min(arena.len() - off);
        pieces.push((off, len));
        off += len + if rng.below(3) == 0 { 64 + rng.below(64) } else { 0 };
    }
    for i in (1..pieces.len()).rev() {
        pieces.swap(i, rng.below(i + 1));
    }
    let mut heap = FirstFit::new();
    let (o, l) = pieces.pop().unwrap();
    heap.claim(arena.region(o, l)).unwrap();
    let mut m = Model { arena: &arena, heap, live: Vec::new(), rng, stats: [0; 5] };
    for i in 0..ops {
        if i % (ops / 8).max(1) == 0 {
            if let Some((o, l)) = pieces.pop() {
                let before = m.heap.free_bytes();
                let got = m.heap.claim(m.arena.region(o, l)).unwrap();
                assert_eq!(m.heap.free_bytes() - before, got);
                m.heap.validate().unwrap();
            }
        }
        m.step();
    }
    assert!(m.heap.region_count >= 1);
    m.drain();
}

// ---------------------------------------------------------------------------------------------
// Through the global-allocator wrapper
// ---------------------------------------------------------------------------------------------

#[test]
fn locked_first_fit_serves_global_alloc_realloc() {
    use core::alloc::GlobalAlloc;
    let arena = filled(8192);
    let heap: crate::Locked<crate::Spin, FirstFit> = crate::Locked::new(FirstFit::new());
    heap.claim(arena.region(0, 8192)).unwrap();
    let l = layout(100, 8);
    // SAFETY: GlobalAlloc contract: non-zero sizes, blocks used with their layouts.
    unsafe {
        let p = heap.alloc(l);
        assert!(!p.is_null());
        fill_block(NonNull::new(p).unwrap(), 100, 3);
        let q = heap.realloc(p, l, 3000);
        assert!(!q.is_null());
        check_block(NonNull::new(q).unwrap(), 100, 3);
        let r = heap.realloc(q, layout(3000, 8), 50);
        assert_eq!(r, q, "shrink moves nothing");
        heap.dealloc(r, layout(50, 8));
    }
    let heap = heap.into_inner();
    assert_pristine(&heap);
}

#[test]
fn claim_touching_static_regions_are_not_merged_but_both_serve() {
    // Two touching pieces of one `'static` buffer: regions from `from_static` never merge
    // (R3), since in general touching statics are distinct Rust objects.
    #[repr(C, align(64))]
    struct Chunk([core::mem::MaybeUninit<u8>; 1024]);
    let mem: &'static mut Chunk = std::boxed::Box::leak(std::boxed::Box::new(Chunk(
        [core::mem::MaybeUninit::uninit(); 1024],
    )));
    let mut upper = Region::from_static(&mut mem.0).unwrap();
    assert!(!upper.may_merge());
    let lower = upper.split_off_front(512).unwrap();
    let mut heap = FirstFit::new();
    heap.claim(upper).unwrap();
    heap.claim(lower).unwrap();
    assert_eq!(heap.region_count, 2, "touching static regions stay separate");
    heap.validate().unwrap();
    // Each region serves its own largest block; nothing spans the seam.
    let big = layout(heap.largest_free_block(), 8);
    assert!(big.size() < 512);
    let p = heap.allocate(big).unwrap();
    let q = heap.allocate(big).unwrap();
    heap.validate().unwrap();
    // SAFETY: both allocated above with `big`.
    unsafe {
        heap.deallocate(p, big);
        heap.deallocate(q, big);
    }
    assert_pristine(&heap);
}
