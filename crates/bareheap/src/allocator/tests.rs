//! The `Allocator` impls, through allocator-api2 (the nightly trait shares the code; it has a
//! smoke test of its own in `nightly_tests.rs`).

use core::alloc::Layout;
use core::ptr::NonNull;

use allocator_api2::alloc::Allocator;
use allocator_api2::vec::Vec;

use crate::test_util::{region, thread_id, MultiBump};
use crate::{Bump, Counted, Heap, HeapCell, Locked, Spin, Zone, Zoned, ZonedHeap};

const FAST: Zone = Zone::new(0);
const DMA: Zone = Zone::new(1);

fn cell(len: usize) -> HeapCell<Counted<Bump>> {
    let cell = HeapCell::new(Counted::new(Bump::new()));
    cell.claim(region(len)).unwrap();
    cell
}

#[test]
fn vec_in_a_heap_cell_grows_in_place_and_frees() {
    let arena = cell(4096);
    let mut v: Vec<u64, _> = Vec::new_in(&arena);
    for i in 0..100 {
        v.push(i);
    }
    assert_eq!(v.iter().sum::<u64>(), 4950);
    let start = v.as_ptr();
    v.reserve_exact(200);
    assert_eq!(v.as_ptr(), start, "the last Bump block grows in place");
    drop(v);
    let c = arena.with(|h| h.counters()).unwrap();
    assert_eq!((c.bytes_in_use, c.blocks_in_use), (0, 0));
    assert!(arena.with(|h| h.validate()).unwrap().is_ok());
}

#[test]
fn cat_b1_zero_size_requests_get_aligned_dangling_pointers_and_skip_the_heap() {
    let arena = cell(256);
    for align in [1, 2, 8, 64, 4096] {
        let l = Layout::from_size_align(0, align).unwrap();
        let block = arena.allocate(l).unwrap();
        assert_eq!(block.len(), 0);
        assert_eq!(block.cast::<u8>().as_ptr().addr(), align);
        // SAFETY: a zero-size block from this allocator with `l`.
        unsafe { arena.deallocate(block.cast(), l) };
    }
    let c = arena.with(|h| h.counters()).unwrap();
    assert_eq!((c.allocations, c.deallocations), (0, 0), "the heap never saw them");
    // A zero-size Vec type never touches the heap either.
    let mut v: Vec<(), _> = Vec::new_in(&arena);
    v.push(());
    assert_eq!(arena.with(|h| h.counters().allocations), Some(0));
}

#[test]
fn grow_from_zero_size_allocates_and_shrink_to_zero_frees() {
    let arena = cell(256);
    let a = &arena;
    let zero = Layout::from_size_align(0, 8).unwrap();
    let l16 = Layout::from_size_align(16, 8).unwrap();
    // SAFETY: each call passes the block and layout the previous call returned.
    unsafe {
        let d = a.allocate(zero).unwrap().cast::<u8>();
        let p = a.grow(d, zero, l16).unwrap();
        assert_eq!(p.len(), 16);
        let q = a.shrink(p.cast(), l16, zero).unwrap();
        assert_eq!(q.len(), 0);
        assert_eq!(q.cast::<u8>().as_ptr().addr(), 8);
    }
    let c = arena.with(|h| h.counters()).unwrap();
    assert_eq!((c.allocations, c.deallocations, c.blocks_in_use), (1, 1, 0));
}

#[test]
fn grow_to_a_larger_alignment_moves_and_keeps_the_data() {
    let arena = cell(4096);
    let a = &arena;
    let old = Layout::from_size_align(24, 8).unwrap();
    let new = Layout::from_size_align(48, 256).unwrap();
    // SAFETY: `p` is allocated with `old`; grown with `old`; the result freed with `new`.
    unsafe {
        let p = a.allocate(old).unwrap().cast::<u8>();
        p.as_ptr().write_bytes(0x3C, 24);
        let q = a.grow(p, old, new).unwrap().cast::<u8>();
        assert_eq!(q.as_ptr().addr() % 256, 0);
        assert!((0..24).all(|i| q.as_ptr().add(i).read() == 0x3C));
        a.deallocate(q, new);
    }
}

#[test]
fn shrink_to_a_different_alignment_moves_and_keeps_the_prefix() {
    let arena = cell(4096);
    let a = &arena;
    let old = Layout::from_size_align(64, 64).unwrap();
    let new = Layout::from_size_align(16, 8).unwrap();
    // SAFETY: as above.
    unsafe {
        let p = a.allocate(old).unwrap().cast::<u8>();
        for i in 0..64 {
            p.as_ptr().add(i).write(i as u8);
        }
        let q = a.shrink(p, old, new).unwrap();
        assert_eq!(q.len(), 16);
        let q = q.cast::<u8>();
        assert!((0..16).all(|i| q.as_ptr().add(i).read() == i as u8));
        a.deallocate(q, new);
    }
}

#[test]
fn grow_zeroed_zeroes_only_the_new_tail() {
    let arena = cell(4096);
    let a = &arena;
    let old = Layout::from_size_align(8, 8).unwrap();
    let new = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: as above.
    unsafe {
        let p = a.allocate(old).unwrap().cast::<u8>();
        p.as_ptr().write_bytes(0xFF, 8);
        // Dirty the bytes the block will grow into (Bump grows the last block in place): a
        // deliberate write past the block, into the arena's free tail, which a heap built
        // with `--cfg bareheap_asan` poisoned (and ASan would rightly report) until now.
        crate::sanitize::unpoison(p.as_ptr().add(8), 56);
        p.as_ptr().add(8).write_bytes(0xEE, 56);
        let q = a.grow_zeroed(p, old, new).unwrap().cast::<u8>();
        assert!((0..8).all(|i| q.as_ptr().add(i).read() == 0xFF));
        assert!((8..64).all(|i| q.as_ptr().add(i).read() == 0));
        a.deallocate(q, new);
    }
}

#[test]
fn cat_e1_exhausted_arena_fails_cleanly_and_stays_usable() {
    let arena = cell(1024);
    let mut v: Vec<u8, _> = Vec::new_in(&arena);
    assert!(v.try_reserve(2048).is_err());
    assert!(v.try_reserve(512).is_ok());
    let mut w: Vec<u8, _> = Vec::new_in(&arena);
    assert!(w.try_reserve(1024).is_err(), "only 512 bytes left");
    assert!(w.try_reserve(256).is_ok());
    assert_eq!(arena.with(|h| h.counters().failures), Some(2));
}

#[test]
fn cat_f4_reentrant_use_of_a_heap_cell_is_an_alloc_error() {
    let arena = cell(1024);
    let l = Layout::new::<u64>();
    let inner = arena.with(|_| arena.allocate(l)).unwrap();
    assert!(inner.is_err());
    assert!(arena.allocate(l).is_ok(), "usable afterwards");
}

#[test]
fn cat_f4_reentrant_use_of_a_locked_heap_is_an_alloc_error() {
    static HEAP: Locked<Spin, Bump> = Locked::with_lock(Spin::with_core_id(thread_id), Bump::new());
    HEAP.claim(region(1024)).unwrap();
    let l = Layout::new::<u64>();
    assert!(HEAP.lock(|_| HEAP.allocate(l)).unwrap().is_err());
    let mut v: Vec<u32, _> = Vec::new_in(&HEAP);
    v.extend([42, 83]);
    assert_eq!(v, [42, 83]);
}

fn zoned_cell() -> HeapCell<Zoned<MultiBump, 2>> {
    let cell = HeapCell::new(Zoned::with_order(&[FAST]));
    cell.with(|z| {
        z.claim_in(FAST, region(1024)).unwrap();
        z.claim_in(DMA, region(512)).unwrap();
    });
    cell
}

#[test]
fn zone_handle_keeps_a_vec_and_its_regrowths_in_the_zone() {
    let heap = zoned_cell();
    let mut buf: Vec<u8, _> = Vec::new_in(heap.zone(DMA));
    buf.push(0);
    // A block after `buf`'s, so that every regrowth must move (within DMA).
    let _other: Vec<u8, _> = Vec::with_capacity_in(8, heap.zone(DMA));
    let first = buf.as_ptr();
    for i in 1..100 {
        buf.push(i as u8);
        let p = NonNull::new(buf.as_mut_ptr()).unwrap();
        assert_eq!(heap.with(|z| z.zone_of(p)), Some(Some(DMA)));
    }
    assert_ne!(buf.as_ptr(), first, "moved");
    assert!(buf.iter().enumerate().all(|(i, &b)| b == i as u8));
    // The DMA zone is small: a restricting handle fails instead of spilling into FAST.
    assert!(buf.try_reserve(1000).is_err());
}

#[test]
fn preferring_handle_spills_into_the_default_order() {
    let heap = zoned_cell();
    let mut buf: Vec<u8, _> = Vec::new_in(heap.zone_preferred(DMA));
    buf.reserve_exact(100);
    let p = NonNull::new(buf.as_mut_ptr()).unwrap();
    assert_eq!(heap.with(|z| z.zone_of(p)), Some(Some(DMA)));
    let mut big: Vec<u8, _> = Vec::new_in(heap.zone_preferred(DMA));
    big.reserve_exact(800);
    let p = NonNull::new(big.as_mut_ptr()).unwrap();
    assert_eq!(heap.with(|z| z.zone_of(p)), Some(Some(FAST)));
}

#[test]
fn zone_handle_through_a_locked_heap() {
    static HEAP: Locked<Spin, Counted<Zoned<Bump, 2>>> =
        Locked::new(Counted::new(Zoned::with_order(&[FAST])));
    HEAP.lock(|h| {
        h.heap_mut().claim_in(FAST, region(1024)).unwrap();
        h.heap_mut().claim_in(DMA, region(256)).unwrap();
    });
    let dma = HEAP.zone(DMA);
    assert_eq!((dma.zone(), dma.is_preferring()), (DMA, false));
    let mut v: Vec<u16, _> = Vec::with_capacity_in(16, dma);
    v.extend(0..16);
    let p = NonNull::new(v.as_mut_ptr()).unwrap().cast();
    assert_eq!(HEAP.lock(|h| h.zone_of(p)), Some(Some(DMA)));
    assert_eq!(HEAP.counters().unwrap().bytes_in_use, 32);
    drop(v);
    assert_eq!(HEAP.counters().unwrap().bytes_in_use, 0);
}

#[test]
fn handles_are_copies_of_the_same_allocator() {
    let heap = zoned_cell();
    let h1 = heap.zone(DMA);
    let h2 = h1;
    let l = Layout::from_size_align(32, 8).unwrap();
    let p = h1.allocate(l).unwrap();
    // SAFETY: `p` was allocated by a copy of `h2` with `l`.
    unsafe { h2.deallocate(p.cast(), l) };
    assert!(heap.with(|z| z.validate()).unwrap().is_ok());
}

#[test]
fn first_fit_arena_backs_many_vecs_and_gets_everything_back() {
    let arena = HeapCell::new(Counted::new(crate::FirstFit::new()));
    arena.claim(region(16 * 1024)).unwrap();
    let free0 = arena.with(|h| h.stats().free_bytes).unwrap();
    {
        let mut outer: Vec<Vec<u32, _>, _> = Vec::new_in(&arena);
        for i in 0..40u32 {
            let mut inner = Vec::new_in(&arena);
            inner.extend(0..i);
            outer.push(inner);
            if i % 4 == 0 {
                outer.swap_remove((i / 2) as usize);
            }
        }
        for v in &outer {
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
        }
        assert!(arena.with(|h| h.validate()).unwrap().is_ok());
    }
    let s = arena.with(|h| h.stats()).unwrap();
    assert_eq!((s.counters.blocks_in_use, s.free_bytes), (0, free0));
}
