use core::alloc::{GlobalAlloc, Layout};
use std::format;
use std::vec::Vec;

use super::*;
use crate::test_util::{region, thread_id, XorShift};
use crate::Spin;

fn counted_bump(len: usize) -> Counted<Bump> {
    let mut heap = Counted::new(Bump::new());
    assert_eq!(heap.claim(region(len)), Ok(len));
    heap
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

#[test]
fn allocate_and_deallocate_update_every_counter() {
    let mut heap = counted_bump(1024);
    let a = heap.allocate(layout(100)).unwrap();
    let b = heap.allocate(layout(50)).unwrap();
    let c = heap.counters();
    assert_eq!((c.bytes_in_use, c.blocks_in_use, c.peak_bytes), (150, 2, 150));
    assert_eq!((c.allocations, c.deallocations, c.failures), (2, 0, 0));
    // SAFETY: `b` and `a` are live blocks of `heap` with these layouts, each freed once.
    unsafe {
        heap.deallocate(b, layout(50));
        heap.deallocate(a, layout(100));
    }
    let c = heap.counters();
    assert_eq!((c.bytes_in_use, c.blocks_in_use, c.peak_bytes), (0, 0, 150));
    assert_eq!((c.allocations, c.deallocations), (2, 2));
    assert!(heap.validate().is_ok());
}

#[test]
fn reset_peak_starts_from_current_use() {
    let mut heap = counted_bump(1024);
    let a = heap.allocate(layout(300)).unwrap();
    let _b = heap.allocate(layout(200)).unwrap();
    assert_eq!(heap.counters().peak_bytes, 500);
    heap.reset_peak();
    assert_eq!(heap.counters().peak_bytes, 500, "still 500 in use");
    // SAFETY: `a` is live with `layout(300)`; Bump ignores a free that is not the last block.
    unsafe { heap.deallocate(a, layout(300)) };
    heap.reset_peak();
    assert_eq!(heap.counters().peak_bytes, 200);
    let _c = heap.allocate(layout(8)).unwrap();
    assert_eq!(heap.counters().peak_bytes, 208);
}

#[test]
fn cat_e1_exhaustion_returns_none_counts_failures_and_heap_stays_usable() {
    let mut heap = counted_bump(256);
    let mut blocks = Vec::new();
    while let Some(p) = heap.allocate(layout(32)) {
        blocks.push(p);
    }
    assert_eq!(blocks.len(), 8);
    assert!(heap.allocate(layout(1)).is_none());
    let c = heap.counters();
    assert_eq!((c.allocations, c.failures, c.bytes_in_use), (8, 2, 256));
    // Usable afterwards: free the last block and allocate again.
    // SAFETY: the last block is live with `layout(32)`.
    unsafe { heap.deallocate(blocks.pop().unwrap(), layout(32)) };
    assert!(heap.allocate(layout(32)).is_some());
    assert!(heap.validate().is_ok());
}

#[test]
fn grow_and_shrink_change_bytes_by_the_difference() {
    let mut heap = counted_bump(1024);
    let p = heap.allocate(layout(100)).unwrap();
    // SAFETY: `p` is live with `layout(100)`; each call passes the current layout.
    unsafe {
        let p = heap.grow(p, layout(100), 400).unwrap();
        assert_eq!(heap.counters().bytes_in_use, 400);
        let p = heap.shrink(p, layout(400), 40).unwrap();
        assert_eq!(heap.counters().bytes_in_use, 40);
        assert!(heap.grow(p, layout(40), 4096).is_none(), "does not fit");
        let c = heap.counters();
        assert_eq!((c.reallocations, c.failures, c.peak_bytes, c.blocks_in_use), (2, 1, 400, 1));
        heap.deallocate(p, layout(40));
    }
    assert_eq!(heap.counters().bytes_in_use, 0);
    assert!(heap.validate().is_ok());
}

#[test]
fn zero_size_allocation_counts_a_block_of_no_bytes() {
    let mut heap = counted_bump(64);
    let p = heap.allocate(layout(0)).unwrap();
    let c = heap.counters();
    assert_eq!((c.bytes_in_use, c.blocks_in_use), (0, 1));
    // SAFETY: `p` is live with `layout(0)`.
    unsafe { heap.deallocate(p, layout(0)) };
    assert_eq!(heap.counters().blocks_in_use, 0);
}

#[test]
fn counters_match_a_model_over_a_random_sequence() {
    let mut heap = counted_bump(64 * 1024);
    let mut rng = XorShift(0x1234_5678);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    let (mut bytes, mut peak, mut allocs, mut frees, mut fails) =
        (0usize, 0usize, 0u64, 0u64, 0u64);
    for _ in 0..2000 {
        if rng.below(3) != 0 || live.is_empty() {
            let l = Layout::from_size_align(rng.below(200) as usize, 1 << rng.below(5)).unwrap();
            match heap.allocate(l) {
                Some(p) => {
                    live.push((p, l));
                    bytes += l.size();
                    peak = peak.max(bytes);
                    allocs += 1;
                }
                None => fails += 1,
            }
        } else {
            let (p, l) = live.swap_remove(rng.below(live.len() as u32) as usize);
            // SAFETY: `p` is live with `l`, removed from the list so freed once.
            unsafe { heap.deallocate(p, l) };
            bytes -= l.size();
            frees += 1;
        }
        let c = heap.counters();
        assert_eq!((c.bytes_in_use, c.peak_bytes, c.blocks_in_use), (bytes, peak, live.len()));
        assert_eq!((c.allocations, c.deallocations, c.failures), (allocs, frees, fails));
    }
    assert!(fails > 0, "the sequence should reach exhaustion at least once");
    assert!(heap.validate().is_ok());
}

#[test]
fn validate_reports_counters_bypassed_through_heap_mut() {
    let mut heap = counted_bump(256);
    let p = heap.heap_mut().allocate(layout(8)).unwrap(); // not counted
    assert!(heap.validate().is_ok());
    // SAFETY: `p` is live with `layout(8)` in the wrapped heap.
    unsafe { heap.deallocate(p, layout(8)) };
    let err = heap.validate().unwrap_err();
    assert!(err.what.starts_with("CT2"), "{err}");
}

#[test]
fn validate_reports_peak_below_use() {
    let mut heap = counted_bump(256);
    let _p = heap.allocate(layout(8)).unwrap();
    heap.counters.peak_bytes = 0; // planted corruption (negative control)
    assert!(heap.validate().unwrap_err().what.starts_with("CT1"));
}

#[test]
fn stats_free_space_comes_from_the_heap() {
    let mut heap = counted_bump(1000);
    let _p = heap.allocate(layout(200)).unwrap();
    let s = heap.stats();
    assert_eq!((s.free_bytes, s.largest_free_block), (800, 800));
    assert_eq!(s.fragmentation_permille(), 0);
    assert_eq!(s.counters, heap.counters());
}

#[test]
fn fragmentation_permille_is_exact_and_never_overflows() {
    assert_eq!(permille_not_in(0, 0), 0);
    assert_eq!(permille_not_in(100, 100), 0);
    assert_eq!(permille_not_in(50, 100), 500);
    assert_eq!(permille_not_in(1, 3), 666);
    assert_eq!(permille_not_in(0, 100), 1000);
    assert_eq!(permille_not_in(200, 100), 0, "largest above free is clamped");
    assert_eq!(permille_not_in(usize::MAX, usize::MAX), 0);
    assert_eq!(permille_not_in(usize::MAX / 2, usize::MAX), 500);
    assert_eq!(permille_not_in(0, usize::MAX), 1000);
}

#[test]
fn display_prints_every_figure() {
    let stats = Stats {
        counters: Counters {
            bytes_in_use: 1234,
            blocks_in_use: 5,
            peak_bytes: 2048,
            allocations: 10,
            deallocations: 5,
            reallocations: 2,
            failures: 1,
        },
        free_bytes: 1000,
        largest_free_block: 750,
    };
    assert_eq!(
        format!("{stats}"),
        "in use: 1234 B in 5 blocks (peak 2048 B); free: 1000 B, largest block 750 B, \
         fragmentation 25.0 %; operations: 10 allocated, 5 freed, 2 reallocated, 1 failed"
    );
    let text = format!("{stats:#}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.starts_with("  ")));
    let one = Stats { counters: Counters { blocks_in_use: 1, ..stats.counters }, ..stats };
    assert!(format!("{one}").contains(" in 1 block (peak"));
}

#[test]
fn locked_stats_read_under_the_lock_and_refuse_reentry() {
    static HEAP: Locked<Spin, Counted<Bump>> = Locked::new(Counted::new(Bump::new()));
    HEAP.claim(region(512)).unwrap();
    let l = layout(64);
    // SAFETY: non-zero size; freed with the same layout.
    let p = unsafe { HEAP.alloc(l) };
    assert!(!p.is_null());
    let s = HEAP.stats().unwrap();
    assert_eq!((s.counters.bytes_in_use, s.free_bytes), (64, 448));
    assert_eq!(HEAP.counters().unwrap().allocations, 1);
    // SAFETY: `p` is live with `l`.
    unsafe { HEAP.dealloc(p, l) };
    assert!(HEAP.reset_peak());
    assert_eq!(HEAP.counters().unwrap().peak_bytes, 0);
    // Re-entry (through a lock that detects it) gets `None`, not a deadlock.
    static REENTRANT: Locked<Spin, Counted<Bump>> =
        Locked::with_lock(Spin::with_core_id(thread_id), Counted::new(Bump::new()));
    assert_eq!(REENTRANT.lock(|_| REENTRANT.stats()), Some(None));
    assert_eq!(REENTRANT.lock(|_| REENTRANT.reset_peak()), Some(false));
}

#[test]
fn cat_e3_first_fit_free_all_restores_free_space_and_zeroes_the_counters() {
    let mut heap = Counted::new(crate::FirstFit::new());
    let usable = heap.claim(region(8192)).unwrap();
    let initial = heap.stats();
    assert_eq!(initial.free_bytes, initial.largest_free_block);
    let mut rng = XorShift(42);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    for _ in 0..1000 {
        if rng.below(2) == 0 {
            let l =
                Layout::from_size_align(1 + rng.below(300) as usize, 1 << rng.below(6)).unwrap();
            if let Some(p) = heap.allocate(l) {
                live.push((p, l));
            }
        } else if !live.is_empty() {
            let (p, l) = live.swap_remove(rng.below(live.len() as u32) as usize);
            // SAFETY: `p` is live with `l`, removed from the list so freed once.
            unsafe { heap.deallocate(p, l) };
        }
        assert!(heap.stats().free_bytes <= usable);
    }
    for (p, l) in live.drain(..) {
        // SAFETY: as above.
        unsafe { heap.deallocate(p, l) };
    }
    let s = heap.stats();
    assert_eq!((s.counters.bytes_in_use, s.counters.blocks_in_use), (0, 0));
    assert_eq!((s.free_bytes, s.largest_free_block), (initial.free_bytes, initial.free_bytes));
    assert!(s.counters.peak_bytes > 0 && s.counters.allocations == s.counters.deallocations);
    assert!(heap.validate().is_ok());
}

#[test]
fn first_fit_fragmentation_reflects_the_holes() {
    let mut heap = Counted::new(crate::FirstFit::new());
    heap.claim(region(4096)).unwrap();
    let l = layout(256);
    let mut blocks = Vec::new();
    while let Some(p) = heap.allocate(l) {
        blocks.push(p);
    }
    assert!(blocks.len() >= 14, "{}", blocks.len());
    assert_eq!(heap.stats().fragmentation_permille(), 0, "nothing (or one remnant) free");
    for &p in blocks.iter().step_by(2) {
        // SAFETY: every other block, each live with `l`, freed once.
        unsafe { heap.deallocate(p, l) };
    }
    // Many equal holes, none adjacent: the largest is one of them.
    let s = heap.stats();
    let holes = blocks.len().div_ceil(2);
    assert!(s.largest_free_block >= 256 && s.largest_free_block < 2 * 256, "{s}");
    assert!(s.fragmentation_permille() >= (1000 - 1000 / holes as u32) - 100, "{s}");
}
