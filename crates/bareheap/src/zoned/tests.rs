use core::alloc::GlobalAlloc;
use std::vec::Vec;

use super::*;
use crate::test_util::{adjacent_regions, region, MultiBump, XorShift};
use crate::{Counted, OnOom, Spin};

const A: Zone = Zone::new(0);
const B: Zone = Zone::new(1);
const C: Zone = Zone::new(2);

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Three zones of `len` bytes each, one region per zone.
fn three(len: usize, order: &[Zone]) -> Zoned<Bump, 3> {
    let mut heap = Zoned::with_order(order);
    for z in [A, B, C] {
        assert_eq!(heap.claim_in(z, region(len)), Ok(len));
    }
    heap
}

/// The zone of a fresh plain 64-byte allocation.
fn next_zone<H: Heap>(heap: &mut Zoned<H, 3>) -> Zone {
    let p = heap.allocate(layout(64)).unwrap();
    heap.zone_of(p).unwrap()
}

#[test]
fn new_tries_zones_in_index_order_with_fallback() {
    let mut heap = Zoned::<Bump, 3>::new();
    assert_eq!(heap.default_order().collect::<Vec<_>>(), [A, B, C]);
    for z in [A, B, C] {
        heap.claim_in(z, region(128)).unwrap();
    }
    let zones: Vec<_> = (0..6).map(|_| next_zone(&mut heap)).collect();
    assert_eq!(zones, [A, A, B, B, C, C]);
    assert!(heap.allocate(layout(64)).is_none(), "all zones full");
    assert!(heap.validate().is_ok());
}

#[test]
fn with_order_sets_preference_and_reserves_the_rest() {
    let mut heap = three(128, &[C, A]);
    let zones: Vec<_> = (0..4).map(|_| next_zone(&mut heap)).collect();
    assert_eq!(zones, [C, C, A, A]);
    assert!(heap.allocate(layout(8)).is_none(), "B is reserved");
    let p = heap.allocate_in(B, layout(64)).unwrap();
    assert_eq!(heap.zone_of(p), Some(B));
}

#[test]
fn allocate_in_restricts_and_allocate_preferring_falls_back() {
    let mut heap = three(128, &[A, B, C]);
    assert!(heap.allocate_in(C, layout(128)).is_some());
    assert!(heap.allocate_in(C, layout(8)).is_none(), "C is full and allocate_in never leaves it");
    let p = heap.allocate_preferring(C, layout(8)).unwrap();
    assert_eq!(heap.zone_of(p), Some(A), "falls back to the default order");
    let q = heap.allocate_preferring(B, layout(8)).unwrap();
    assert_eq!(heap.zone_of(q), Some(B));
}

#[test]
fn allocate_in_missing_zone_is_none_and_claim_in_missing_zone_is_an_error() {
    let mut heap = Zoned::<Bump, 2>::new();
    assert!(heap.allocate_in(C, layout(8)).is_none());
    assert!(heap.allocate_preferring(C, layout(8)).is_none());
    assert_eq!(heap.claim_in(C, region(64)), Err(ZoneError::NoSuchZone(C)));
    assert!(heap.heap(C).is_none());
}

#[test]
fn deallocate_returns_the_block_to_its_own_zone() {
    let mut heap = three(256, &[A, B, C]);
    let a = heap.allocate_in(A, layout(100)).unwrap();
    let b = heap.allocate_in(B, layout(100)).unwrap();
    // SAFETY: `b` is live with `layout(100)`.
    unsafe { heap.deallocate(b, layout(100)) };
    // Bump reclaims its last block: only zone B got its memory back.
    assert_eq!(heap.heap(B).unwrap().remaining(), 256);
    assert_eq!(heap.heap(A).unwrap().remaining(), 156);
    // SAFETY: `a` is live with `layout(100)`.
    unsafe { heap.deallocate(a, layout(100)) };
    assert_eq!(heap.heap(A).unwrap().remaining(), 256);
}

#[test]
fn grow_moves_to_another_zone_when_its_own_is_full_and_keeps_the_data() {
    let mut heap = three(256, &[A, B]);
    let _fill = heap.allocate_in(A, layout(64)).unwrap();
    let p = heap.allocate_in(A, layout(128)).unwrap();
    let q = heap.allocate_in(A, layout(32)).unwrap(); // p is no longer A's last block
                                                      // SAFETY: `p` is live with `layout(128)` and 128 bytes long; `q` with `layout(32)`.
    unsafe {
        p.as_ptr().write_bytes(0x5A, 128);
        let moved = heap.grow(p, layout(128), 200).unwrap();
        assert_eq!(heap.zone_of(moved), Some(B));
        assert!((0..128).all(|i| moved.as_ptr().add(i).read() == 0x5A));
        heap.deallocate(moved, layout(200));
        heap.deallocate(q, layout(32));
    }
    assert!(heap.validate().is_ok());
}

#[test]
fn grow_in_zone_never_leaves_the_zone() {
    let mut heap = three(256, &[A, B]);
    let p = heap.allocate_in(C, layout(64)).unwrap();
    let _q = heap.allocate_in(C, layout(32)).unwrap(); // p is no longer C's last block
                                                       // SAFETY: `p` is live with `layout(64)`.
    unsafe {
        assert!(heap.grow_in_zone(p, layout(64), 200).is_none(), "C has no room");
        let p = heap.grow_in_zone(p, layout(64), 100).unwrap();
        assert_eq!(heap.zone_of(p), Some(C), "moved, but within C");
    }
}

#[test]
fn shrink_stays_in_the_zone() {
    let mut heap = three(256, &[A]);
    let p = heap.allocate_in(B, layout(200)).unwrap();
    // SAFETY: `p` is live with `layout(200)`.
    let p = unsafe { heap.shrink(p, layout(200), 10) }.unwrap();
    assert_eq!(heap.zone_of(p), Some(B));
    assert_eq!(heap.heap(B).unwrap().remaining(), 246);
}

#[test]
fn claim_in_refuses_a_region_that_interleaves_zones() {
    let [r0, r1, r2, r3] = adjacent_regions::<4>(256);
    let mut heap = Zoned::<MultiBump, 2>::new();
    heap.claim_in(A, r0).unwrap();
    heap.claim_in(B, r1).unwrap();
    // A's hull would grow over B's region.
    assert_eq!(heap.claim_in(A, r2), Err(ZoneError::HullOverlap { other: B }));
    // Nothing changed: B can still take its neighbour, and allocations stay routable.
    heap.claim_in(B, r3).unwrap();
    let p = heap.allocate_in(A, layout(64)).unwrap();
    assert_eq!(heap.zone_of(p), Some(A));
    assert!(heap.validate().is_ok());
}

#[test]
fn claim_in_heap_refusal_leaves_the_hull_unchanged() {
    let mut heap = Zoned::<Bump, 2>::new();
    heap.claim_in(A, region(64)).unwrap();
    let hull = heap.hulls[0];
    assert_eq!(
        heap.claim_in(A, region(64)),
        Err(ZoneError::Region(RegionError::AlreadyClaimed)),
        "Bump takes one region"
    );
    assert_eq!(heap.hulls[0], hull);
}

#[test]
fn validate_detects_overlapping_hulls() {
    let mut heap = Zoned::<Bump, 2>::new();
    heap.claim_in(A, region(64)).unwrap();
    assert!(heap.validate().is_ok());
    heap.hulls[1] = Hull { lo: heap.hulls[0].lo + 8, hi: heap.hulls[0].hi + 8 }; // planted
    assert!(heap.validate().unwrap_err().what.starts_with("Z2"));
}

#[test]
fn validate_detects_a_bad_default_order() {
    let mut heap = Zoned::<Bump, 2>::new();
    heap.order = [1, 1]; // planted
    assert!(heap.validate().unwrap_err().what.starts_with("Z3"));
}

#[test]
#[should_panic(expected = "names a zone twice")]
fn with_order_naming_a_zone_twice_panics() {
    let _ = Zoned::<Bump, 3>::with_order(&[A, A]);
}

#[test]
#[should_panic(expected = "does not exist")]
fn with_order_naming_a_missing_zone_panics() {
    let _ = Zoned::<Bump, 2>::with_order(&[C]);
}

#[test]
fn heap_stats_sum_free_bytes_and_take_the_largest_block() {
    let mut heap = three(256, &[A, B, C]);
    let _ = heap.allocate_in(A, layout(200)).unwrap();
    let _ = heap.allocate_in(B, layout(100)).unwrap();
    assert_eq!(heap.free_bytes(), 56 + 156 + 256);
    assert_eq!(heap.largest_free_block(), 256);
}

#[test]
fn counted_zoned_counts_zone_allocations_and_zones_count_their_own() {
    // Totals outside, per zone inside.
    let mut heap: Counted<Zoned<Counted<Bump>, 2>> = Counted::new(Zoned::new());
    heap.heap_mut().claim_in(A, region(256)).unwrap();
    heap.heap_mut().claim_in(B, region(256)).unwrap();
    let p = heap.allocate_in(B, layout(100)).unwrap();
    let _ = heap.allocate(layout(10)).unwrap();
    assert_eq!(heap.counters().bytes_in_use, 110);
    let zoned = heap.heap();
    assert_eq!(zoned.heap(A).unwrap().counters().bytes_in_use, 10);
    assert_eq!(zoned.heap(B).unwrap().counters().bytes_in_use, 100);
    // SAFETY: `p` is live with `layout(100)`.
    unsafe { heap.deallocate(p, layout(100)) };
    assert_eq!(heap.heap().heap(B).unwrap().counters().blocks_in_use, 0);
    assert!(heap.validate().is_ok());
}

#[test]
fn on_oom_hook_can_claim_into_a_zone() {
    let mut heap = OnOom::new(Zoned::<Bump, 2>::new(), |z: &mut Zoned<Bump, 2>, _: Layout| {
        z.claim_in(B, region(512)).is_ok()
    });
    let p = heap.allocate_in(B, layout(300)).unwrap();
    assert_eq!(heap.zone_of(p), Some(B));
}

#[test]
fn locked_zoned_is_a_global_allocator_over_the_default_order() {
    static HEAP: Locked<Spin, Zoned<Bump, 2>> = Locked::new(Zoned::with_order(&[B]));
    HEAP.lock(|z| {
        z.claim_in(A, region(256)).unwrap();
        z.claim_in(B, region(256)).unwrap();
    });
    let l = layout(128);
    // SAFETY: non-zero size; freed with the same layout.
    unsafe {
        let p = HEAP.alloc(l);
        assert!(!p.is_null());
        assert_eq!(HEAP.lock(|z| z.zone_of(NonNull::new(p).unwrap())), Some(Some(B)));
        HEAP.dealloc(p, l);
    }
    assert_eq!(HEAP.lock(|z| z.heap(B).unwrap().remaining()), Some(256));
}

/// Random operations over three zones: every block lands in the zone it was asked for (never in
/// the reserved zone unless asked), and keeps its contents (no overlap across zones).
#[test]
fn random_operations_keep_blocks_in_their_zones() {
    let regions = adjacent_regions::<3>(4096);
    let mut heap = Zoned::<MultiBump, 3>::with_order(&[A, C]);
    for (z, r) in [A, B, C].into_iter().zip(regions) {
        heap.claim_in(z, r).unwrap();
    }
    let mut rng = XorShift(0xDEAD_BEEF);
    let mut live: Vec<(NonNull<u8>, Layout, Option<Zone>, u8)> = Vec::new();
    for step in 0..3000u32 {
        let tag = step as u8;
        match rng.below(4) {
            0 | 1 => {
                let l = Layout::from_size_align(1 + rng.below(64) as usize, 8).unwrap();
                let want = [None, Some(A), Some(B), Some(C)][rng.below(4) as usize];
                let p = match want {
                    None => heap.allocate(l),
                    Some(z) => heap.allocate_in(z, l),
                };
                if let Some(p) = p {
                    let got = heap.zone_of(p).unwrap();
                    match want {
                        Some(z) => assert_eq!(got, z),
                        None => assert_ne!(got, B, "B is reserved"),
                    }
                    // SAFETY: `p` is a fresh block of `l.size()` bytes.
                    unsafe { p.as_ptr().write_bytes(tag, l.size()) };
                    live.push((p, l, want, tag));
                }
            }
            _ if !live.is_empty() => {
                let (p, l, _, tag) = live.swap_remove(rng.below(live.len() as u32) as usize);
                // SAFETY: `p` is live with `l`; it was filled with `tag`, freed once.
                unsafe {
                    assert!((0..l.size()).all(|i| p.as_ptr().add(i).read() == tag));
                    heap.deallocate(p, l);
                }
            }
            _ => {}
        }
    }
    assert!(heap.validate().is_ok());
}

#[test]
fn first_fit_zone_takes_adjacent_regions_later_and_merges_them() {
    let [r0, r1, r2] = adjacent_regions::<3>(512);
    let mut heap = Zoned::<crate::FirstFit, 2>::new();
    heap.claim_in(A, r0).unwrap();
    heap.claim_in(B, r2).unwrap();
    let big = Layout::from_size_align(700, 8).unwrap();
    assert!(heap.allocate_in(A, big).is_none(), "one region of 512 bytes");
    heap.claim_in(A, r1).unwrap(); // adjacent to r0: merged by FirstFit, hull grows
    let p = heap.allocate_in(A, big).unwrap();
    assert_eq!(heap.zone_of(p), Some(A));
    // SAFETY: `p` is live with `big`.
    unsafe { heap.deallocate(p, big) };
    assert!(heap.validate().is_ok());
}

#[test]
fn random_operations_on_first_fit_zones_give_every_byte_back() {
    let mut heap = Zoned::<Counted<crate::FirstFit>, 3>::with_order(&[C, A]);
    for z in [A, B, C] {
        heap.claim_in(z, region(4096)).unwrap();
    }
    let initial: Vec<usize> = [A, B, C].map(|z| heap.heap(z).unwrap().free_bytes()).to_vec();
    let mut rng = XorShift(7);
    let mut live: Vec<(NonNull<u8>, Layout, u8)> = Vec::new();
    for step in 0..3000u32 {
        let tag = step as u8;
        if rng.below(2) == 0 {
            let l =
                Layout::from_size_align(1 + rng.below(200) as usize, 1 << rng.below(5)).unwrap();
            let want = [None, Some(A), Some(B), Some(C)][rng.below(4) as usize];
            let p = match want {
                None => heap.allocate(l),
                Some(z) => heap.allocate_in(z, l),
            };
            if let Some(p) = p {
                let got = heap.zone_of(p).unwrap();
                assert!(want.map_or(got != B, |z| z == got));
                // SAFETY: a fresh block of `l.size()` bytes.
                unsafe { p.as_ptr().write_bytes(tag, l.size()) };
                live.push((p, l, tag));
            }
        } else if !live.is_empty() {
            let (p, l, tag) = live.swap_remove(rng.below(live.len() as u32) as usize);
            // SAFETY: `p` is live with `l` and filled with `tag`; it is grown (which keeps
            // `l.size()` bytes) and then freed once with its current layout.
            unsafe {
                let old_size = l.size();
                let bigger = Layout::from_size_align(old_size + 16, l.align()).unwrap();
                let (p, l) = heap.grow(p, l, bigger.size()).map_or((p, l), |q| (q, bigger));
                assert!((0..old_size).all(|i| p.as_ptr().add(i).read() == tag));
                heap.deallocate(p, l);
            }
        }
    }
    for (p, l, _) in live {
        // SAFETY: as above.
        unsafe { heap.deallocate(p, l) };
    }
    assert!(heap.validate().is_ok());
    for (z, free) in [A, B, C].into_iter().zip(initial) {
        let zone = heap.heap(z).unwrap();
        assert_eq!(zone.free_bytes(), free, "zone {z:?} got every byte back");
        assert_eq!(zone.counters().blocks_in_use, 0);
    }
}
