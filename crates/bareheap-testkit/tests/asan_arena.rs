//! AddressSanitizer inside the arena: with `--cfg bareheap_asan` the heaps poison their free
//! space and allocation slack (`bareheap::sanitize`), so errors *inside* an arena, which plain
//! ASan sees as one valid object, are reported.
//!
//! - `control_*`: planted bugs, `#[ignore]`d. `cargo xtask test` runs each alone, in its own
//!   process, under ASan with the cfg, and passes only if ASan reports it
//!   (`AddressSanitizer: use-after-poison`). Without the poisoning they are not reported (plain
//!   ASan: the arena is valid memory), so removing the poisoning fails CI.
//! - `shadow_*`: only compiled with the cfg; check the poisoned/addressable state byte by byte
//!   through `__asan_address_is_poisoned`, without tripping a report.
//!
//! Never run the controls without the detector: they read and write freed memory on purpose.

use core::alloc::Layout;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::hint::black_box;

use core::alloc::GlobalAlloc;

use bareheap::{AtomicBump, Bump, Claim, FirstFit, Heap, Region, Slab, Tlsf};

const ARENA: usize = 64 * 1024;

/// The slab front end over a first-fit heap: every request of these tests is a slab slot.
type SlabFf = Slab<FirstFit>;

/// A fresh heap over a leaked (so `'static`) arena.
fn heap<H: Heap + Claim + Default>() -> H {
    let mem = Box::leak(vec![MaybeUninit::<u8>::uninit(); ARENA].into_boxed_slice());
    let mut h = H::default();
    h.claim(Region::from_static(mem).expect("arena region")).expect("claim");
    h
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("layout")
}

/// Allocates `a` (64 bytes) and a guard after it, frees `a` and returns its stale pointer.
fn freed_block<H: Heap + Claim + Default>(h: &mut H) -> NonNull<u8> {
    let a = h.allocate(layout(64)).expect("a");
    let guard = h.allocate(layout(64)).expect("guard");
    black_box(guard);
    // SAFETY: `a` is live, freed once with its layout.
    unsafe { h.deallocate(a, layout(64)) };
    a
}

/// Reads byte 32 of a freed 64-byte block (past its header and list links).
fn use_after_free<H: Heap + Claim + Default>() {
    let mut h = heap::<H>();
    let a = freed_block(&mut h);
    // SAFETY: none; this is the planted use after free ASan must report.
    let x = unsafe { a.as_ptr().add(black_box(32)).read_volatile() };
    black_box(x);
}

/// Writes one byte past a 20-byte allocation (into the block's rounding slack).
fn one_byte_overflow<H: Heap + Claim + Default>() {
    let mut h = heap::<H>();
    let p = h.allocate(layout(20)).expect("p");
    // SAFETY: none; this is the planted off-by-one write ASan must report.
    unsafe { p.as_ptr().add(black_box(20)).write_volatile(0xee) };
    black_box(p);
}

/// A `memset` 64 bytes too long over a 24-byte allocation, into the free space after it.
fn overflow_into_free_neighbour<H: Heap + Claim + Default>() {
    let mut h = heap::<H>();
    let p = h.allocate(layout(24)).expect("p");
    // SAFETY: none; this is the planted linear overflow ASan must report.
    unsafe { p.as_ptr().write_bytes(0xee, black_box(24 + 64)) };
    black_box(p);
}

/// An `AtomicBump` over a leaked (so `'static`) arena.
fn atomic_bump() -> &'static AtomicBump {
    let mem = Box::leak(vec![MaybeUninit::<u8>::uninit(); ARENA].into_boxed_slice());
    let bump = Box::leak(Box::new(AtomicBump::new()));
    bump.claim(Region::from_static(mem).expect("arena region")).expect("claim");
    bump
}

/// `AtomicBump`: writes one byte past a 20-byte allocation (into the unused tail).
fn atomic_bump_one_byte_overflow() {
    let bump = atomic_bump();
    // SAFETY: a non-zero size.
    let p = unsafe { bump.alloc(layout(20)) };
    assert!(!p.is_null());
    // SAFETY: none; this is the planted off-by-one write ASan must report.
    unsafe { p.add(black_box(20)).write_volatile(0xee) };
    black_box(p);
}

/// `AtomicBump`: reads a freed block that was not the last one (so not reclaimed).
fn atomic_bump_use_after_free() {
    let bump = atomic_bump();
    // SAFETY: non-zero sizes; `a` is freed once with its layout.
    let a = unsafe { bump.alloc(layout(64)) };
    // SAFETY: as above.
    let guard = unsafe { bump.alloc(layout(64)) };
    assert!(!a.is_null() && !guard.is_null());
    // SAFETY: `a` is live, freed once with its layout.
    unsafe { bump.dealloc(a, layout(64)) };
    // SAFETY: none; this is the planted use after free ASan must report.
    let x = unsafe { a.add(black_box(32)).read_volatile() };
    black_box((x, guard));
}

macro_rules! control {
    ($name:ident, $body:expr) => {
        #[test]
        #[ignore = "planted bug: run only under ASan with --cfg bareheap_asan (cargo xtask test)"]
        fn $name() {
            $body;
        }
    };
}

control!(control_tlsf_use_after_free_in_arena_is_reported, use_after_free::<Tlsf>());
control!(control_first_fit_use_after_free_in_arena_is_reported, use_after_free::<FirstFit>());
control!(control_tlsf_one_byte_overflow_in_arena_is_reported, one_byte_overflow::<Tlsf>());
control!(control_first_fit_one_byte_overflow_in_arena_is_reported, one_byte_overflow::<FirstFit>());
control!(control_bump_one_byte_overflow_in_arena_is_reported, one_byte_overflow::<Bump>());
control!(
    control_atomic_bump_one_byte_overflow_in_arena_is_reported,
    atomic_bump_one_byte_overflow()
);
control!(control_atomic_bump_use_after_free_in_arena_is_reported, atomic_bump_use_after_free());
control!(
    control_tlsf_overflow_into_free_neighbour_is_reported,
    overflow_into_free_neighbour::<Tlsf>()
);
control!(
    control_first_fit_overflow_into_free_neighbour_is_reported,
    overflow_into_free_neighbour::<FirstFit>()
);
control!(control_slab_use_after_free_in_arena_is_reported, use_after_free::<SlabFf>());
control!(control_slab_one_byte_overflow_in_arena_is_reported, one_byte_overflow::<SlabFf>());
control!(control_slab_overflow_past_its_slot_is_reported, overflow_into_free_neighbour::<SlabFf>());

/// The byte-exact checks of the poisoning, without a report: only with the cfg.
#[cfg(bareheap_asan)]
mod shadow {
    use super::*;

    extern "C" {
        fn __asan_address_is_poisoned(addr: *const u8) -> core::ffi::c_int;
    }

    fn poisoned(p: *const u8) -> bool {
        // SAFETY: the query reads only ASan's shadow memory.
        unsafe { __asan_address_is_poisoned(p) != 0 }
    }

    /// `[p, p + size)` addressable, and the `slack` bytes after it poisoned.
    fn assert_exposed(p: NonNull<u8>, size: usize, slack: usize) {
        let p = p.as_ptr();
        for i in 0..size {
            assert!(!poisoned(p.wrapping_add(i)), "payload byte {i} of {size} is poisoned");
        }
        for i in size..size + slack {
            assert!(poisoned(p.wrapping_add(i)), "slack byte {i} after {size} is addressable");
        }
    }

    /// `first_poisoned..64 - footer` of a freed 64-byte payload must be poisoned: the bytes
    /// before are the heap's links, the `footer` bytes at the end its end mark.
    fn shadow_tracks_allocations<H: Heap + Claim + Default>(first_poisoned: usize, footer: usize) {
        let mut h = heap::<H>();
        // Every size of a small block: payload exact, the rest of its 8-byte granule poisoned.
        for size in 1..=40 {
            let p = h.allocate(layout(size)).expect("p");
            assert_exposed(p, size, size.next_multiple_of(8) - size);
            // SAFETY: `p` is live; grown/shrunk/freed once with its current layout.
            unsafe {
                let q = h.grow(p, layout(size), size + 50).expect("grow");
                assert_exposed(q, size + 50, (size + 50).next_multiple_of(8) - size - 50);
                let r = h.shrink(q, layout(size + 50), size).expect("shrink");
                assert_exposed(r, size, size.next_multiple_of(8) - size);
                h.deallocate(r, layout(size));
            }
        }
        // A freed block's payload is poisoned past the heap's own metadata.
        let a = freed_block(&mut h);
        for i in first_poisoned..64 - footer {
            assert!(poisoned(a.as_ptr().wrapping_add(i)), "freed byte {i} is addressable");
        }
        // Allocated again, it is addressable again.
        let b = h.allocate(layout(64)).expect("b");
        assert_eq!(b, a, "the freed block is reused");
        assert_exposed(b, 64, 0);
        h.validate().expect("valid");
    }

    /// Tlsf: a free block keeps its header, two links (payload bytes 0..16) and its footer: the
    /// 64-byte payload's block is 72 bytes (8-byte granule), so the footer is its last 8 bytes.
    #[test]
    fn shadow_tlsf_free_space_and_slack_are_poisoned() {
        shadow_tracks_allocations::<Tlsf>(16, 8);
    }

    /// FirstFit: a free block keeps its header and one link (payload bytes 0..8).
    #[test]
    fn shadow_first_fit_free_space_and_slack_are_poisoned() {
        shadow_tracks_allocations::<FirstFit>(8, 0);
    }

    /// Slab: nothing of a free slot is the slab's (its bookkeeping is in the slab header), so
    /// all of it is poisoned; the slack up to the class size is poisoned, and so are slots
    /// never handed out.
    #[test]
    fn shadow_slab_free_slots_and_slack_are_poisoned() {
        shadow_tracks_allocations::<SlabFf>(0, 0);
        let mut h = heap::<SlabFf>();
        let p = h.allocate(layout(100)).expect("p"); // the 128-byte class
        assert_exposed(p, 100, 28);
        // The slab's other slots (below the first, slots are packed against its end) were
        // never handed out.
        assert!(poisoned(p.as_ptr().wrapping_sub(64)), "a fresh slot is addressable");
        h.validate().expect("valid");
    }

    /// Bump: the unused tail and a reclaimed last block are poisoned; alignment padding too.
    #[test]
    fn shadow_bump_tail_and_reclaimed_block_are_poisoned() {
        let mut h = heap::<Bump>();
        let p = h.allocate(layout(20)).expect("p");
        assert_exposed(p, 20, 4);
        let q = h.allocate(Layout::from_size_align(8, 64).expect("layout")).expect("q");
        assert!(poisoned(q.as_ptr().wrapping_sub(1)), "alignment padding is addressable");
        // SAFETY: `q` is the last block, freed once.
        unsafe { h.deallocate(q, Layout::from_size_align(8, 64).expect("layout")) };
        assert!(poisoned(q.as_ptr()), "reclaimed block is addressable");
    }

    /// AtomicBump: the tail and padding are poisoned, a payload is exact, and a freed block is
    /// poisoned whether reclaimed (the last one) or not.
    #[test]
    fn shadow_atomic_bump_tail_padding_and_freed_blocks_are_poisoned() {
        let bump = atomic_bump();
        let l20 = layout(20);
        let l64 = Layout::from_size_align(8, 64).expect("layout");
        // SAFETY: non-zero sizes; each block freed once with its layout.
        unsafe {
            let p = NonNull::new(bump.alloc(l20)).expect("p");
            assert_exposed(p, 20, 4);
            let q = NonNull::new(bump.alloc(l64)).expect("q");
            assert_exposed(q, 8, 8);
            assert!(poisoned(q.as_ptr().wrapping_sub(1)), "alignment padding is addressable");
            bump.dealloc(p.as_ptr(), l20); // not the last block: not reclaimed, still dead
            assert!(poisoned(p.as_ptr()), "a freed, unreclaimed block is addressable");
            bump.dealloc(q.as_ptr(), l64); // the last block: reclaimed
            assert!(poisoned(q.as_ptr()), "a reclaimed block is addressable");
            let r = NonNull::new(bump.alloc(l64)).expect("r");
            assert_eq!(r, q, "the reclaimed block is handed out again");
            assert_exposed(r, 8, 8);
        }
        bump.validate().expect("valid");
    }

    /// A double free in the ASan build goes to the fault handler, not to an ASan report: the
    /// stale header is poisoned once the block has merged with free space, and the check on
    /// free refuses a poisoned header without reading it.
    #[test]
    fn shadow_double_free_of_merged_block_is_refused_without_a_report() {
        fn run<H: Heap + Claim + Default>() {
            let mut h = heap::<H>();
            let a = h.allocate(layout(64)).expect("a");
            let b = h.allocate(layout(64)).expect("b");
            let before = bareheap::fault::count();
            // SAFETY: `a` and `b` are live and freed once; the second free of `b` is the
            // misuse under test, which the heap must refuse without writing.
            unsafe {
                h.deallocate(a, layout(64));
                h.deallocate(b, layout(64)); // merges with `a`: `b`'s header is inside
                h.deallocate(b, layout(64));
            }
            assert!(bareheap::fault::count() > before, "the double free reached the handler");
            h.validate().expect("valid after a refused double free");
        }
        run::<Tlsf>();
        run::<FirstFit>();
    }
}
