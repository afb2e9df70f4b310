use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use std::boxed::Box;
use std::vec::Vec;

use super::*;

/// A leaked, 64-byte aligned buffer of `len` bytes as a region.
fn region(len: usize) -> Region {
    #[repr(C, align(64))]
    struct Chunk([MaybeUninit<u8>; 64]);
    let chunks = len.div_ceil(64);
    let mem: &'static mut [Chunk] =
        Box::leak((0..chunks).map(|_| Chunk([MaybeUninit::uninit(); 64])).collect());
    // SAFETY: the leaked buffer is valid forever and only reachable through the region.
    unsafe { Region::new(mem.as_mut_ptr().cast(), len) }.unwrap()
}

fn claimed(len: usize) -> Bump {
    let mut b = Bump::new();
    assert_eq!(b.claim(region(len)), Ok(len));
    b
}

#[test]
fn allocate_before_claim_returns_none() {
    let mut b = Bump::new();
    assert!(b.allocate(Layout::new::<u8>()).is_none());
    assert!(b.validate().is_ok());
}

#[test]
fn claim_twice_is_rejected() {
    let mut b = claimed(64);
    assert_eq!(b.claim(region(64)), Err(RegionError::AlreadyClaimed));
    assert_eq!(b.capacity(), 64);
}

#[test]
fn allocate_aligns_and_stays_in_bounds() {
    // The region is only 64-aligned, so the padding for alignments 128..=2048 depends on where
    // the allocator put it: up to 4095 bytes in all, plus 12 × 3 bytes of payload. 4 KiB was
    // not always enough (a CI run hit it); 8 KiB always is.
    const LEN: usize = 8192;
    let mut b = claimed(LEN);
    let base = b.base.as_ptr().addr();
    for align_log2 in 0..12 {
        let layout = Layout::from_size_align(3, 1 << align_log2).unwrap();
        let p = b.allocate(layout).unwrap().as_ptr().addr();
        assert_eq!(p % (1 << align_log2), 0);
        assert!(p >= base && p + 3 <= base + LEN);
    }
    assert!(b.validate().is_ok());
}

#[test]
fn allocate_exact_fit_succeeds_and_one_more_byte_fails() {
    let mut b = claimed(128);
    assert!(b.allocate(Layout::from_size_align(129, 1).unwrap()).is_none());
    assert!(b.allocate(Layout::from_size_align(128, 1).unwrap()).is_some());
    assert!(b.allocate(Layout::from_size_align(1, 1).unwrap()).is_none());
    assert_eq!(b.remaining(), 0);
}

#[test]
fn allocate_huge_alignment_or_size_returns_none_without_overflow() {
    let mut b = claimed(128);
    for shift in 0..usize::BITS {
        let align = 1usize << shift;
        for size in [0, 1, (isize::MAX as usize + 1).wrapping_sub(align)] {
            if let Ok(layout) = Layout::from_size_align(size, align) {
                if let Some(p) = b.allocate(layout) {
                    assert_eq!(p.as_ptr().addr() % align, 0);
                    assert!(size <= 128);
                }
            }
        }
    }
    assert!(b.validate().is_ok());
}

#[test]
fn zero_size_blocks_are_unique() {
    let mut b = claimed(64);
    let z = Layout::from_size_align(0, 1).unwrap();
    let ps: Vec<_> = (0..64).map(|_| b.allocate(z).unwrap()).collect();
    for w in ps.windows(2) {
        assert_ne!(w[0], w[1]);
    }
    assert!(b.allocate(z).is_none());
}

#[test]
fn deallocate_last_block_reclaims_it_and_others_are_noops() {
    let mut b = claimed(256);
    let l = Layout::from_size_align(16, 8).unwrap();
    let p1 = b.allocate(l).unwrap();
    let p2 = b.allocate(l).unwrap();
    assert_eq!(b.used(), 32);
    // SAFETY: p1 was allocated with `l`; not the last block, so nothing changes.
    unsafe { b.deallocate(p1, l) };
    assert_eq!(b.used(), 32);
    // SAFETY: p2 is the last block.
    unsafe { b.deallocate(p2, l) };
    assert_eq!(b.used(), 16);
    // A second free of the same pointer (a double free) must not underflow or move `next`.
    // SAFETY: intentionally invalid: exercising the robustness of our own record (J1).
    unsafe { b.deallocate(p2, l) };
    assert_eq!(b.used(), 16);
    assert!(b.validate().is_ok());
}

#[test]
fn deallocate_with_wrong_layout_cannot_cut_into_live_blocks() {
    let mut b = claimed(256);
    let p1 = b.allocate(Layout::from_size_align(16, 8).unwrap()).unwrap();
    let _p2 = b.allocate(Layout::from_size_align(16, 8).unwrap()).unwrap();
    // SAFETY: intentionally lying about the layout (catalogue C4): our own record decides.
    unsafe { b.deallocate(p1, Layout::from_size_align(32, 8).unwrap()) };
    assert_eq!(b.used(), 32);
}

#[test]
fn grow_and_shrink_last_block_in_place() {
    let mut b = claimed(256);
    let l = Layout::from_size_align(8, 8).unwrap();
    let p = b.allocate(l).unwrap();
    // SAFETY: p is currently allocated with `l`.
    unsafe { p.as_ptr().write_bytes(0xA5, 8) };
    // SAFETY: as above; 64 >= 8.
    let g = unsafe { b.grow(p, l, 64) }.unwrap();
    assert_eq!(g, p);
    assert_eq!(b.used(), 64);
    // SAFETY: `g` now has 64 bytes; the first 8 were preserved.
    assert!(unsafe { core::slice::from_raw_parts(g.as_ptr(), 8) }.iter().all(|&x| x == 0xA5));
    let l64 = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: `g` is currently allocated with `l64`; 4 <= 64.
    let s = unsafe { b.shrink(g, l64, 4) }.unwrap();
    assert_eq!((s, b.used()), (p, 4));
    // Growing past the end fails and leaves the block alone.
    let l4 = Layout::from_size_align(4, 8).unwrap();
    // SAFETY: `s` is currently allocated with `l4`.
    assert!(unsafe { b.grow(s, l4, 1000) }.is_none());
    assert_eq!(b.used(), 4);
}

#[test]
fn grow_non_last_block_moves_and_copies() {
    let mut b = claimed(256);
    let l = Layout::from_size_align(8, 8).unwrap();
    let p = b.allocate(l).unwrap();
    // SAFETY: p has 8 bytes.
    unsafe { p.as_ptr().copy_from_nonoverlapping([1u8, 2, 3, 4, 5, 6, 7, 8].as_ptr(), 8) };
    let _q = b.allocate(l).unwrap();
    // SAFETY: p is currently allocated with `l`.
    let g = unsafe { b.grow(p, l, 32) }.unwrap();
    assert_ne!(g, p);
    // SAFETY: `g` has 32 bytes, the first 8 copied.
    assert_eq!(unsafe { core::slice::from_raw_parts(g.as_ptr(), 8) }, &[1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn reset_makes_everything_available_again() {
    let mut b = claimed(100);
    while b.allocate(Layout::new::<u32>()).is_some() {}
    // SAFETY: no block is used after this.
    unsafe { b.reset() };
    assert_eq!((b.used(), b.remaining()), (0, 100));
}

#[test]
fn validate_detects_planted_corruption() {
    let mut b = claimed(64);
    b.next = 65;
    assert_eq!(b.validate().unwrap_err().what, "B1: next beyond the region end");
    b.next = 8;
    b.last = 8;
    assert!(b.validate().is_err());
}

#[test]
fn atomic_bump_before_claim_returns_null() {
    let b = AtomicBump::new();
    // SAFETY: non-zero size.
    assert!(unsafe { b.alloc(Layout::new::<u64>()) }.is_null());
}

#[test]
fn atomic_bump_claims_once_and_reclaims_last() {
    let b = AtomicBump::new();
    assert_eq!(b.claim(region(128)), Ok(128));
    assert_eq!(b.claim(region(128)), Err(RegionError::AlreadyClaimed));
    let l = Layout::from_size_align(24, 8).unwrap();
    // SAFETY: non-zero size; freed with the same layout.
    unsafe {
        let p = b.alloc(l);
        let q = b.alloc(l);
        assert!(!p.is_null() && !q.is_null());
        b.dealloc(p, l); // not the last: no-op
        assert_eq!(b.used(), 48);
        b.dealloc(q, l);
        assert_eq!(b.used(), 24);
    }
    assert!(b.validate().is_ok());
}

#[test]
fn atomic_bump_threads_get_disjoint_blocks() {
    static B: AtomicBump = AtomicBump::new();
    const THREADS: usize = 4;
    const PER_THREAD: usize = if cfg!(miri) { 50 } else { 5000 };
    B.claim(region(THREADS * PER_THREAD * 16)).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let l = Layout::from_size_align(16, 16).unwrap();
                let mut mine = Vec::new();
                for _ in 0..PER_THREAD {
                    // SAFETY: non-zero size.
                    let p = unsafe { B.alloc(l) };
                    assert!(!p.is_null());
                    // SAFETY: the block is ours: 16 bytes.
                    unsafe { p.write_bytes(t as u8, 16) };
                    mine.push(p);
                }
                for &p in &mine {
                    // SAFETY: our own live block of 16 bytes.
                    let bytes = unsafe { core::slice::from_raw_parts(p, 16) };
                    assert!(bytes.iter().all(|&x| x == t as u8));
                }
                mine.iter().map(|p| p.addr()).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<usize> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all.len(), THREADS * PER_THREAD);
    for w in all.windows(2) {
        assert!(w[1] - w[0] >= 16, "overlapping blocks");
    }
    // SAFETY: non-zero size; the arena is full.
    assert!(unsafe { B.alloc(Layout::new::<u8>()) }.is_null());
}
