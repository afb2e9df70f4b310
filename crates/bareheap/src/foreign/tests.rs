use core::alloc::Layout;
use core::cell::RefCell;
use std::collections::BTreeMap;
use std::vec::Vec;

use super::*;

/// What the simulated kernel allocator saw, per test thread.
#[derive(Default)]
struct Sim {
    /// Foreign pointer -> (size, pointer to the real allocation).
    live: BTreeMap<usize, (usize, *mut u8)>,
    flags: Vec<u32>,
    sizes: Vec<usize>,
    /// Fail the allocation when this many more have succeeded.
    fail_after: Option<usize>,
    bad_frees: usize,
}

std::thread_local! {
    static SIM: RefCell<Sim> = RefCell::new(Sim::default());
}

/// A kmalloc stand-in that guarantees only 8-byte alignment, and returns pointers that are
/// 8 mod 16 on purpose, so that any reliance on more alignment shows.
struct Kmalloc8;

// SAFETY: blocks come from the system allocator (16-aligned) offset by 8: valid, disjoint,
// 8-aligned, `size` bytes; `free` accepts exactly those.
unsafe impl ForeignAlloc for Kmalloc8 {
    const ALIGN: usize = 8;
    type Flags = u32;

    unsafe fn alloc(size: usize, flags: u32) -> *mut u8 {
        SIM.with_borrow_mut(|s| {
            assert!(size > 0, "Foreign asked for 0 bytes");
            s.flags.push(flags);
            s.sizes.push(size);
            if let Some(n) = s.fail_after.as_mut() {
                if *n == 0 {
                    return ptr::null_mut();
                }
                *n -= 1;
            }
            let Some(real_size) = size.checked_add(8) else { return ptr::null_mut() };
            let Ok(real) = Layout::from_size_align(real_size, 16) else { return ptr::null_mut() };
            if real_size > 1 << 24 {
                return ptr::null_mut();
            }
            // SAFETY: non-zero size.
            let base = unsafe { std::alloc::alloc(real) };
            let p = base.wrapping_add(8);
            assert_eq!(p.addr() % 16, 8);
            s.live.insert(p.addr(), (size, base));
            p
        })
    }

    unsafe fn free(ptr: *mut u8) {
        SIM.with_borrow_mut(|s| match s.live.remove(&ptr.addr()) {
            Some((size, base)) => {
                let real = Layout::from_size_align(size + 8, 16).unwrap();
                // SAFETY: `base` was allocated with `real` above.
                unsafe { std::alloc::dealloc(base, real) };
            }
            None => s.bad_frees += 1,
        });
    }

    fn validate() -> Result<(), Corruption> {
        SIM.with_borrow(|s| match s.bad_frees {
            0 => Ok(()),
            _ => Err(Corruption { what: "simulated kfree of an unknown pointer", addr: 0 }),
        })
    }
}

const GFP_KERNEL: u32 = 0xcc0;
const GFP_ATOMIC: u32 = 0x820;

fn l(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn allocate_every_alignment_is_aligned_and_writable() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    let mut blocks = Vec::new();
    let max_log2 = if cfg!(miri) { 13 } else { 17 };
    for align_log2 in 0..max_log2 {
        for size in [0, 1, 7, 8, 9, 100, 4095, 4097] {
            let layout = l(size, 1 << align_log2);
            let p = h.allocate(layout).unwrap();
            assert_eq!(p.as_ptr().addr() % layout.align(), 0, "{layout:?}");
            // SAFETY: the block is `size` bytes, ours.
            unsafe { p.as_ptr().write_bytes(0xAB, size) };
            blocks.push((p, layout));
        }
    }
    h.validate().unwrap();
    for (p, layout) in blocks {
        // SAFETY: allocated above with `layout`.
        unsafe { h.deallocate(p, layout) };
    }
    assert_eq!(h.live(), 0);
    assert_eq!(h.invalid_frees(), 0);
    SIM.with_borrow(|s| assert!(s.live.is_empty() && s.bad_frees == 0));
    h.validate().unwrap();
}

#[test]
fn small_alignments_are_passed_straight_through() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    let p = h.allocate(l(24, 8)).unwrap();
    SIM.with_borrow(|s| {
        assert_eq!(s.sizes, [24], "no over-allocation for align <= 8");
        assert!(s.live.contains_key(&p.as_ptr().addr()), "the foreign pointer itself");
    });
    // SAFETY: allocated above.
    unsafe { h.deallocate(p, l(24, 8)) };
}

#[test]
fn over_aligned_request_is_over_allocated_by_the_documented_bound() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    let p = h.allocate(l(100, 64)).unwrap();
    SIM.with_borrow(|s| assert_eq!(s.sizes, [100 + PREFIX + 63]));
    // SAFETY: allocated above.
    unsafe { h.deallocate(p, l(100, 64)) };
    SIM.with_borrow(|s| assert!(s.live.is_empty()));
}

#[test]
fn flags_per_heap_and_per_call_reach_the_foreign_side() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    let a = h.allocate(l(8, 8)).unwrap();
    let b = h.allocate_with(l(8, 8), GFP_ATOMIC).unwrap();
    h.set_flags(GFP_ATOMIC);
    let c = h.allocate(l(64, 64)).unwrap();
    assert_eq!(h.flags(), GFP_ATOMIC);
    SIM.with_borrow(|s| assert_eq!(s.flags, [GFP_KERNEL, GFP_ATOMIC, GFP_ATOMIC]));
    // SAFETY: allocated above with these layouts.
    unsafe {
        h.deallocate(a, l(8, 8));
        h.deallocate(b, l(8, 8));
        h.deallocate(c, l(64, 64));
    }
    assert_eq!(h.live(), 0);
}

#[test]
fn foreign_failure_returns_none_and_changes_nothing() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    SIM.with_borrow_mut(|s| s.fail_after = Some(1));
    let a = h.allocate(l(32, 8)).unwrap();
    assert!(h.allocate(l(32, 8)).is_none());
    assert!(h.allocate(l(32, 4096)).is_none());
    assert_eq!(h.live(), 1);
    SIM.with_borrow_mut(|s| s.fail_after = None);
    // SAFETY: allocated above.
    unsafe { h.deallocate(a, l(32, 8)) };
    SIM.with_borrow(|s| assert!(s.live.is_empty()));
}

#[test]
fn cat_b2_b3_huge_sizes_and_alignments_return_none_without_a_wrapped_request() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    for align_log2 in 0..usize::BITS - 1 {
        let align = 1usize << align_log2;
        for size in
            [1, align.wrapping_sub(1), isize::MAX as usize - align + 1, isize::MAX as usize / 2 + 3]
        {
            let Ok(layout) = Layout::from_size_align(size, align) else { continue };
            if let Some(p) = h.allocate(layout) {
                assert_eq!(p.as_ptr().addr() % align, 0);
                // SAFETY: allocated above with `layout`.
                unsafe { h.deallocate(p, layout) };
            }
        }
    }
    SIM.with_borrow(|s| {
        // Every request the foreign side saw covers the block: no wrapped (tiny) size for a
        // huge layout.
        for &size in &s.sizes {
            assert!(size > 0);
        }
        assert!(s.live.is_empty());
    });
    // A non-power-of-two size with a large alignment (the kernel-roulette case).
    let layout = l(3 * 1000 + 7, 512);
    let p = h.allocate(layout).unwrap();
    assert_eq!(p.as_ptr().addr() % 512, 0);
    // SAFETY: allocated above.
    unsafe { h.deallocate(p, layout) };
    assert_eq!(h.live(), 0);
}

#[test]
fn cat_c1_free_with_no_live_block_is_ignored() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    let p = h.allocate(l(16, 8)).unwrap();
    // SAFETY: allocated above.
    unsafe { h.deallocate(p, l(16, 8)) };
    // SAFETY: deliberately a double free with no live block: detected, not forwarded.
    unsafe { h.deallocate(p, l(16, 8)) };
    assert_eq!(h.invalid_frees(), 1);
    SIM.with_borrow(|s| assert_eq!(s.bad_frees, 0));
}

#[test]
fn cat_c3_interior_pointer_of_over_aligned_block_is_ignored() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    let layout = l(256, 128);
    let p = h.allocate(layout).unwrap();
    // SAFETY: the block is ours; zero it so the words below interior pointers are defined.
    unsafe { p.as_ptr().write_bytes(0, 256) };
    for delta in [16, 64, 128] {
        let q = NonNull::new(p.as_ptr().wrapping_add(delta)).unwrap();
        // SAFETY: deliberately an interior pointer: its tag does not match, nothing is freed.
        unsafe { h.deallocate(q, layout) };
    }
    assert_eq!(h.invalid_frees(), 3);
    SIM.with_borrow(|s| assert_eq!((s.bad_frees, s.live.len()), (0, 1)));
    // SAFETY: allocated above.
    unsafe { h.deallocate(p, layout) };
    assert_eq!(h.live(), 0);
}

#[test]
fn grow_and_shrink_move_and_keep_contents() {
    let mut h: Foreign<Kmalloc8> = Foreign::new(GFP_KERNEL);
    let p = h.allocate(l(10, 32)).unwrap();
    // SAFETY: the block is 10 bytes, ours.
    unsafe { p.as_ptr().copy_from_nonoverlapping(b"0123456789".as_ptr(), 10) };
    // SAFETY: allocated with (10, 32).
    let q = unsafe { h.grow(p, l(10, 32), 1000) }.unwrap();
    assert_eq!(q.as_ptr().addr() % 32, 0);
    // SAFETY: the first 10 bytes were copied.
    assert_eq!(unsafe { core::slice::from_raw_parts(q.as_ptr(), 10) }, b"0123456789");
    // SAFETY: allocated with (1000, 32).
    let r = unsafe { h.shrink(q, l(1000, 32), 4) }.unwrap();
    // SAFETY: the first 4 bytes were copied.
    assert_eq!(unsafe { core::slice::from_raw_parts(r.as_ptr(), 4) }, b"0123");
    // SAFETY: allocated with (4, 32).
    unsafe { h.deallocate(r, l(4, 32)) };
    assert_eq!(h.live(), 0);
    SIM.with_borrow(|s| assert!(s.live.is_empty()));
}

#[test]
fn slab_over_foreign_composes() {
    let mut h: crate::Slab<Foreign<Kmalloc8>> = crate::Slab::new(Foreign::new(GFP_KERNEL));
    let mut v = Vec::new();
    let n = if cfg!(miri) { 40 } else { 2000 };
    for i in 0..n {
        let layout = l(1 + i % 300, 8);
        v.push((h.allocate(layout).unwrap(), layout));
    }
    for (p, layout) in v {
        // SAFETY: allocated above with `layout`.
        unsafe { h.deallocate(p, layout) };
    }
    h.trim();
    assert_eq!(h.invalid_frees(), 0);
    assert_eq!(h.backing().live(), 0);
    SIM.with_borrow(|s| assert!(s.live.is_empty() && s.bad_frees == 0));
    h.validate().unwrap();
}
