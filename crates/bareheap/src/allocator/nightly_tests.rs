//! `core::alloc::Allocator` (feature `nightly`, nightly compilers): the impls share their code
//! with the allocator-api2 ones, so this checks the wiring with `alloc`'s own collections.

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::{Allocator, Layout};

use crate::test_util::region;
use crate::{Bump, HeapCell, Zone, Zoned};

#[test]
fn core_vec_and_box_in_a_heap_cell() {
    let arena = HeapCell::new(Bump::new());
    arena.claim(region(1024)).unwrap();
    let mut v: Vec<u32, _> = Vec::new_in(&arena);
    v.extend([42, 83]);
    assert_eq!(v, [42, 83]);
    let b = Box::new_in(7u64, &arena);
    assert_eq!(*b, 7);
    let zero = arena.allocate(Layout::new::<()>()).unwrap();
    assert_eq!(zero.len(), 0);
}

#[test]
fn core_vec_in_a_zone() {
    const DMA: Zone = Zone::new(1);
    let heap = HeapCell::new(Zoned::<Bump, 2>::with_order(&[Zone::new(0)]));
    heap.with(|z| z.claim_in(DMA, region(256)).unwrap());
    let mut v: Vec<u8, _> = Vec::new_in(heap.zone(DMA));
    v.extend_from_slice(&[1, 2, 3]);
    assert!(v.try_reserve(1000).is_err());
}
