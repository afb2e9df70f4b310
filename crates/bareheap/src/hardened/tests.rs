//! Each hardened detection with a planted fault: the fault is reported with the right kind,
//! nothing is written, and the heap stays valid. Every test also checks the clean case, so a
//! check that always fires fails too.

use core::alloc::Layout;
use core::ptr::NonNull;

use super::*;
use crate::fault::tests::take;
use crate::fault::Fault;
use crate::test_util::{region, XorShift};
use crate::tlsf::{DEFAULT_FL, DEFAULT_G, DEFAULT_SL};
use crate::{FirstFit, Tlsf, TlsfWith};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

fn first_fit() -> HardenedFirstFit {
    let mut h = HardenedFirstFit::new(FirstFitWith::new());
    h.claim(region(8192)).unwrap();
    h
}

fn tlsf() -> HardenedTlsf {
    let mut h = HardenedTlsf::new(TlsfWith::new());
    h.claim(region(16384)).unwrap();
    h
}

/// The faults reported since the last call, as (kind, address).
fn reported() -> std::vec::Vec<(FaultKind, usize)> {
    take().iter().map(|f: &Fault| (f.kind, f.addr)).collect()
}

/// Runs `case` against both hardened heaps, with the fault record emptied first.
fn both(case: fn(&mut dyn Heap)) {
    let mut ff = first_fit();
    let _ = take();
    case(&mut ff);
    let mut t = tlsf();
    let _ = take();
    case(&mut t);
}

#[test]
fn deallocate_after_one_and_eight_byte_overflow_reports_canary_damaged() {
    both(|h| {
        for (size, over) in [(10, 1), (24, 1), (7, 8), (64, 8)] {
            let l = layout(size, 1);
            let p = h.allocate(l).unwrap();
            // The clean case first: another block freed untouched gives no report.
            let q = h.allocate(l).unwrap();
            // SAFETY: live with `l`.
            unsafe { h.deallocate(q, l) };
            assert_eq!(reported(), []);
            // The overflow flips bits of every byte it hits: writing a constant instead would
            // leave the canary intact whenever it already held that byte (1 in 256 per byte,
            // since the canary depends on the heap's address).
            for i in 0..over {
                // SAFETY: the bytes past the payload are the trailer the heap reserved.
                unsafe {
                    let b = p.as_ptr().add(size + i);
                    b.write(b.read() ^ 0x41);
                }
            }
            // SAFETY: `p` is live with `l`; the damage is detected and the free ignored.
            unsafe { h.deallocate(p, l) };
            assert_eq!(reported(), [(FaultKind::CanaryDamaged, p.as_ptr().addr())]);
            h.validate().unwrap();
        }
    });
}

#[test]
fn deallocate_with_wrong_size_reports_layout_mismatch_and_keeps_block() {
    both(|h| {
        let l = layout(40, 8);
        let p = h.allocate(l).unwrap();
        for wrong in [39, 41, 32, 48, 8, 4000] {
            // SAFETY: deliberately wrong layout; refused before any write.
            unsafe { h.deallocate(p, layout(wrong, 8)) };
            assert_eq!(reported(), [(FaultKind::LayoutMismatch, p.as_ptr().addr())], "{wrong}");
        }
        // The block is still live and intact: the right layout frees it.
        // SAFETY: live with `l`.
        unsafe { h.deallocate(p, l) };
        assert_eq!(reported(), []);
        h.validate().unwrap();
    });
}

#[test]
fn grow_and_shrink_with_wrong_size_report_and_return_none() {
    both(|h| {
        let l = layout(40, 8);
        let p = h.allocate(l).unwrap();
        // SAFETY: deliberately wrong old layout.
        assert_eq!(unsafe { h.grow(p, layout(24, 8), 100) }, None);
        // SAFETY: as above.
        assert_eq!(unsafe { h.shrink(p, layout(48, 8), 8) }, None);
        let kind = FaultKind::LayoutMismatch;
        assert_eq!(reported(), [(kind, p.as_ptr().addr()), (kind, p.as_ptr().addr())]);
        // With the right layout both work and re-seal the trailer.
        // SAFETY: live with `l`.
        let g = unsafe { h.grow(p, l, 100) }.unwrap();
        // SAFETY: live with size 100.
        let s = unsafe { h.shrink(g, layout(100, 8), 16) }.unwrap();
        // SAFETY: live with size 16.
        unsafe { h.deallocate(s, layout(16, 8)) };
        assert_eq!(reported(), []);
        h.validate().unwrap();
    });
}

#[test]
fn double_free_reports_not_allocated() {
    both(|h| {
        for size in [24, 100, 1000] {
            let l = layout(size, 8);
            let keep = h.allocate(l).unwrap();
            let p = h.allocate(l).unwrap();
            // SAFETY: `p` is live; the second free is the planted bug.
            unsafe {
                h.deallocate(p, l);
                h.deallocate(p, l);
            }
            assert_eq!(reported(), [(FaultKind::NotAllocated, p.as_ptr().addr())], "{size}");
            // SAFETY: live.
            unsafe { h.deallocate(keep, l) };
            h.validate().unwrap();
        }
        // Tiny blocks: the inner heap's links may overwrite the trailer, but the double free
        // is still reported (module Drawbacks).
        let l = layout(1, 1);
        let p = h.allocate(l).unwrap();
        // SAFETY: as above.
        unsafe {
            h.deallocate(p, l);
            h.deallocate(p, l);
        }
        assert_eq!(reported().len(), 1);
        h.validate().unwrap();
    });
}

#[test]
fn foreign_and_misaligned_pointers_are_refused_before_reading() {
    both(|h| {
        let mut local = [0u64; 4];
        let foreign = NonNull::from(&mut local).cast::<u8>();
        let far = NonNull::new(core::ptr::without_provenance_mut::<u8>(usize::MAX - 3)).unwrap();
        for p in [foreign, far] {
            // SAFETY: deliberately invalid; refused on addresses alone (no read, no write).
            unsafe { h.deallocate(p, layout(8, 8)) };
            assert_eq!(reported(), [(FaultKind::Outside, p.as_ptr().addr())]);
        }
        let p = h.allocate(layout(32, 8)).unwrap();
        let odd = NonNull::new(p.as_ptr().wrapping_add(4)).unwrap();
        // SAFETY: deliberately invalid: misaligned for the layout.
        unsafe { h.deallocate(odd, layout(8, 8)) };
        assert_eq!(reported(), [(FaultKind::Misaligned, odd.as_ptr().addr())]);
        assert_eq!(local, [0; 4]);
        h.validate().unwrap();
    });
}

#[test]
fn random_ops_keep_trailers_intact_and_report_nothing() {
    both(|h| {
        let mut rng = XorShift(0x1234_5678);
        let mut live: std::vec::Vec<(NonNull<u8>, Layout)> = std::vec::Vec::new();
        for _ in 0..if cfg!(miri) { 300 } else { 4000 } {
            let r = rng.below(10);
            if r < 5 || live.is_empty() {
                let l = layout(rng.below(300) as usize, 1 << rng.below(6));
                if let Some(p) = h.allocate(l) {
                    // SAFETY: fresh block of `l.size()` bytes: fill it completely.
                    unsafe { p.as_ptr().write_bytes(0xEE, l.size()) };
                    live.push((p, l));
                }
            } else {
                let (p, l) = live.swap_remove(rng.below(live.len() as u32) as usize);
                let new = rng.below(300) as usize;
                // SAFETY: live with `l`; every block is freed or resized once.
                unsafe {
                    if r < 8 {
                        h.deallocate(p, l);
                    } else if let Some(q) =
                        if new >= l.size() { h.grow(p, l, new) } else { h.shrink(p, l, new) }
                    {
                        let l2 = layout(new, l.align());
                        q.as_ptr().write_bytes(0xEE, new);
                        live.push((q, l2));
                    } else {
                        live.push((p, l));
                    }
                }
            }
            assert_eq!(reported(), []);
        }
        for (p, l) in live {
            // SAFETY: live with `l`.
            unsafe { h.deallocate(p, l) };
        }
        assert_eq!(reported(), []);
        h.validate().unwrap();
    });
}

/// `h` over a fresh region of `len` bytes with eight 48-byte blocks, the even ones freed:
/// four free blocks isolated between live ones.
fn with_holes<H: Heap + Claim>(mut h: H, len: usize) -> (H, std::vec::Vec<NonNull<u8>>) {
    h.claim(region(len)).unwrap();
    let l = layout(48, 8);
    let blocks: std::vec::Vec<_> = (0..8).map(|_| h.allocate(l).unwrap()).collect();
    for &b in blocks.iter().step_by(2) {
        // SAFETY: live with `l`.
        unsafe { h.deallocate(b, l) };
    }
    h.validate().unwrap();
    (h, blocks)
}

/// A hardened first-fit heap with several free blocks (holes between live ones).
fn fragmented() -> (FirstFitWith<true>, std::vec::Vec<NonNull<u8>>) {
    with_holes(FirstFitWith::<true>::new(), 4096)
}

/// The link word of a freed first-fit block: its first payload word.
fn link_of(payload: NonNull<u8>) -> *mut usize {
    payload.as_ptr().cast()
}

#[test]
fn first_fit_links_are_stored_encoded() {
    let (h, blocks) = fragmented();
    // SAFETY: `blocks[0]` is a free block: its first payload word is its link.
    let stored = unsafe { link_of(blocks[0]).read() };
    let header = blocks[2].as_ptr().addr() - size_of::<usize>();
    assert_ne!(stored, header, "the link to the next free block is not stored in the clear");
    assert_eq!(stored ^ h.key, header);
    // Without `HARDENED` the same list is stored in the clear.
    let mut plain = FirstFit::new();
    plain.claim(region(4096)).unwrap();
    let a = plain.allocate(layout(48, 8)).unwrap();
    let b = plain.allocate(layout(48, 8)).unwrap();
    let c = plain.allocate(layout(48, 8)).unwrap();
    // SAFETY: live blocks, each freed once.
    unsafe {
        plain.deallocate(a, layout(48, 8));
        plain.deallocate(c, layout(48, 8));
    }
    // SAFETY: `a` is free: its first payload word is its link.
    assert_eq!(unsafe { link_of(a).read() }, c.as_ptr().addr() - size_of::<usize>());
    // SAFETY: live.
    unsafe { plain.deallocate(b, layout(48, 8)) };
}

#[test]
fn first_fit_corrupt_link_is_reported_by_allocate_free_and_validate() {
    for value in [0usize, 0x4141_4141, usize::MAX] {
        let (mut h, blocks) = fragmented();
        let _ = take();
        // A use after free writes over the link of the lowest free block.
        // SAFETY: `blocks[0]` is a free block of the heap's memory; the write is the bug.
        unsafe { link_of(blocks[0]).write(value) };
        assert!(h.validate().is_err(), "validate must see the damaged list ({value:#x})");
        // An allocation that must walk past the damaged link (no free hole is large enough).
        assert_eq!(h.allocate(layout(1000, 8)), None);
        let hdr = blocks[0].as_ptr().addr() - size_of::<usize>();
        assert_eq!(reported(), [(FaultKind::CorruptLink, hdr)], "{value:#x}");
        // A free above the damaged block walks past it too: refused, nothing written.
        // SAFETY: `blocks[5]` is live with its layout; the free is refused.
        unsafe { h.deallocate(blocks[5], layout(48, 8)) };
        assert_eq!(reported(), [(FaultKind::CorruptLink, blocks[5].as_ptr().addr())]);
    }
}

/// RELIABILITY.md R9: a corrupted link is caught in at least 99.9 % of random overwrites.
#[test]
fn first_fit_random_link_overwrites_are_caught() {
    let mut rng = XorShift(0x9e37_79b9);
    let (trials, mut caught) = (if cfg!(miri) { 100 } else { 10_000 }, 0);
    for _ in 0..trials {
        let (mut h, blocks) = fragmented();
        let _ = take();
        let value = (u64::from(rng.next()) << 32 | u64::from(rng.next())) as usize;
        // SAFETY: as in the test above.
        unsafe { link_of(blocks[0]).write(link_of(blocks[0]).read() ^ value.max(1)) };
        let _ = h.allocate(layout(1000, 8));
        caught += usize::from(
            reported()
                == [(FaultKind::CorruptLink, blocks[0].as_ptr().addr() - size_of::<usize>())],
        );
    }
    assert!(caught * 1000 >= trials * 999, "caught {caught} of {trials}");
}

/// A hardened Tlsf (TL9) with four isolated free blocks of one class between live ones: the
/// list runs `blocks[6] → blocks[4] → blocks[2] → blocks[0]` (the last freed is first).
fn tlsf_fragmented(
) -> (TlsfWith<DEFAULT_FL, DEFAULT_SL, DEFAULT_G, true>, std::vec::Vec<NonNull<u8>>) {
    with_holes(TlsfWith::new(), 8192)
}

/// The header of the block whose payload is `p`.
fn header_of(p: NonNull<u8>) -> usize {
    p.as_ptr().addr() - size_of::<usize>()
}

#[test]
fn tlsf_links_are_stored_encoded_and_rekey_keeps_the_heap() {
    let (mut h, blocks) = tlsf_fragmented();
    // SAFETY: `blocks[2]` is free: its first payload word is its `next` link (to `blocks[0]`).
    let stored = || unsafe { link_of(blocks[2]).read() };
    let before = stored();
    assert_ne!(before, header_of(blocks[0]), "the link is not stored in the clear");
    h.rekey(0x1234_5678).unwrap();
    h.validate().unwrap();
    assert_ne!(stored(), before, "rekey re-encodes the links");
    // The heap works as before: the four holes are handed out again, newest first.
    let l = layout(48, 8);
    for i in [6, 4, 2, 0] {
        assert_eq!(h.allocate(l), Some(blocks[i]));
    }
    assert_eq!(take(), []);
    // The plain Tlsf stores the same link in the clear.
    let mut plain = Tlsf::new();
    plain.claim(region(8192)).unwrap();
    let b: std::vec::Vec<_> = (0..4).map(|_| plain.allocate(l).unwrap()).collect();
    // SAFETY: live blocks, each freed once.
    unsafe {
        plain.deallocate(b[0], l);
        plain.deallocate(b[2], l);
    }
    // SAFETY: `b[2]` is free: its first payload word is its `next` link.
    assert_eq!(unsafe { link_of(b[2]).read() }, header_of(b[0]));
}

#[test]
fn tlsf_corrupt_link_is_reported_by_allocate_free_grow_and_validate() {
    let l = layout(48, 8);
    for value in [0usize, 0x4141_4141, usize::MAX] {
        // The first block of the list: `allocate` refuses to follow its link.
        let (mut h, blocks) = tlsf_fragmented();
        let _ = take();
        // SAFETY: `blocks[6]` is a free block of the heap; the write is the bug under test.
        unsafe { link_of(blocks[6]).write(value) };
        assert!(h.validate().is_err(), "validate must see the damaged list ({value:#x})");
        assert_eq!(h.allocate(l), None, "{value:#x}");
        assert_eq!(reported(), [(FaultKind::CorruptLink, header_of(blocks[6]))], "{value:#x}");

        // A block in the middle of the list: freeing its neighbour would merge with it.
        let (mut h, blocks) = tlsf_fragmented();
        let _ = take();
        // SAFETY: as above, `blocks[2]` is free.
        unsafe { link_of(blocks[2]).write(value) };
        // SAFETY: `blocks[1]` is live with `l`; the free is refused.
        unsafe { h.deallocate(blocks[1], l) };
        assert_eq!(reported(), [(FaultKind::CorruptLink, header_of(blocks[1]))], "{value:#x}");
        // Growing `blocks[1]` into the free block after it: refused too.
        // SAFETY: `blocks[1]` is still live with `l`.
        assert_eq!(unsafe { h.grow(blocks[1], l, 96) }, None);
        assert_eq!(reported(), [(FaultKind::CorruptLink, header_of(blocks[2]))], "{value:#x}");
    }
}

#[test]
fn tlsf_corrupt_footer_is_reported_by_free() {
    let l = layout(48, 8);
    for value in [0usize, 0x4141_4141] {
        let (mut h, blocks) = tlsf_fragmented();
        let _ = take();
        // The footer of free `blocks[0]` is the word just before `blocks[1]`'s header.
        let footer = (header_of(blocks[1]) - size_of::<usize>()) as *mut usize;
        // SAFETY: the last word of the free block `blocks[0]`; the write is the bug under test.
        unsafe { blocks[0].as_ptr().with_addr(footer.addr()).cast::<usize>().write(value) };
        // SAFETY: `blocks[1]` is live with `l`; the free is refused.
        unsafe { h.deallocate(blocks[1], l) };
        assert_eq!(reported(), [(FaultKind::CorruptLink, header_of(blocks[1]))], "{value:#x}");
    }
}

/// RELIABILITY.md R9 for Tlsf: a corrupted link is caught in at least 99.9 % of random
/// overwrites of either link word.
#[test]
fn tlsf_random_link_overwrites_are_caught() {
    let mut rng = XorShift(0x7f4a_7c15);
    let (trials, mut caught) = (if cfg!(miri) { 100 } else { 10_000 }, 0);
    for t in 0..trials {
        let (mut h, blocks) = tlsf_fragmented();
        let _ = take();
        let value = (u64::from(rng.next()) << 32 | u64::from(rng.next())) as usize;
        let word = link_of(blocks[2]).wrapping_add(t % 2);
        // SAFETY: `next` or `prev` of the free block `blocks[2]`; the write is the bug.
        unsafe { word.write(word.read() ^ value.max(1)) };
        // SAFETY: `blocks[1]` is live; the free must be refused.
        unsafe { h.deallocate(blocks[1], layout(48, 8)) };
        caught += usize::from(reported() == [(FaultKind::CorruptLink, header_of(blocks[1]))]);
    }
    assert!(caught * 1000 >= trials * 999, "caught {caught} of {trials}");
}
