//! The seeded operation sequence every allocator runs, identical in every binary.
//!
//! # The sequence
//!
//! [`SLOTS`] slots, [`OPS`] steps. Each step picks a slot uniformly at random (PCG32 from
//! `oorandom`, seed [`SEED`]; the draws are [`crate::sequence`]'s, which the host shares):
//! - an empty slot gets a new block: **alloc**;
//! - a full slot is freed with probability 3/5 (**free**), otherwise resized (**realloc**):
//!   3/5 of resizes double the size (a growing `Vec`), 1/5 halve it, 1/5 draw a fresh size.
//!
//! About 5/8 of the slots are full in the steady state (about 40 live blocks, a few KiB).
//!
//! Sizes (bytes): 60 % in 1..=32, 25 % in 33..=128, 12 % in 129..=512, 3 % in 513..=2048;
//! resizes are capped at [`MAX_SIZE`]. Alignments: 30 % 1, 45 % 4, 20 % 8, 3 % 16, 1 % 32,
//! 1 % 64.
//!
//! Every block is filled with a per-block pattern when it is allocated and checked before it
//! is freed and after it is resized (the first `min(old, new)` bytes); the block must also be
//! aligned and inside the arena. The checks run outside the measurements.

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr;

use oorandom::Rand32;

use crate::marker::{self, Kind};
use crate::sequence;
use crate::{exit, hprintln, Allocator};

/// Bytes of the arena every allocator gets.
pub const ARENA_LEN: usize = 32 * 1024;
pub use crate::sequence::{MAX_SIZE, OPS, SEED, SLOTS};
/// Empty and calibration measurements made before the workload.
const CALIBRATIONS: u32 = 8;

/// The arena: 4 KiB-aligned (so a buddy allocator gets whole power-of-two blocks), in the
/// `.uninit` section (not zeroed, not counted as static RAM).
#[repr(C, align(4096))]
struct Arena(UnsafeCell<MaybeUninit<[u8; ARENA_LEN]>>);

// SAFETY: only `run` touches the arena, once, to hand it to the allocator.
unsafe impl Sync for Arena {}

#[link_section = ".uninit.bench_arena"]
static ARENA: Arena = Arena(UnsafeCell::new(MaybeUninit::uninit()));

#[derive(Clone, Copy)]
struct Slot {
    ptr: *mut u8,
    size: usize,
    align: usize,
    /// The pattern byte of the block's contents.
    tag: u8,
}

const EMPTY: Slot = Slot { ptr: ptr::null_mut(), size: 0, align: 1, tag: 0 };

/// Per-kind operation counts, printed at the end so the host can check the plugin's records.
#[derive(Default)]
struct Counts {
    alloc: u32,
    free: u32,
    realloc: u32,
}

/// Runs the calibration and the workload against `A`, prints a summary and exits QEMU with
/// status 0 if every check passed.
pub fn run<A: Allocator>() -> ! {
    let arena_range = start::<A>();

    let mut rng = Rand32::new(SEED);
    let mut slots = [EMPTY; SLOTS];
    let mut counts = Counts::default();
    let mut next_tag: u8 = 1;
    let mut stopped_at_oom = false;

    for step in 0..OPS {
        let i = sequence::pick_slot(&mut rng);
        let slot = slots[i];
        if slot.ptr.is_null() {
            let (size, align) = (sequence::draw_size(&mut rng), sequence::draw_align(&mut rng));
            let Ok(layout) = Layout::from_size_align(size, align) else {
                fail(A::NAME, step, "bad layout drawn");
            };
            let p = measured_alloc::<A>(layout);
            if p.is_null() {
                if A::REUSES_MEMORY {
                    fail(A::NAME, step, "alloc refused");
                }
                stopped_at_oom = true;
                break;
            }
            counts.alloc += 1;
            check_block(A::NAME, step, p, layout, &arena_range);
            next_tag = next_tag.wrapping_add(1).max(1);
            // SAFETY: `p` is a fresh block of `size` bytes.
            unsafe { ptr::write_bytes(p, next_tag, size) };
            slots[i] = Slot { ptr: p, size, align, tag: next_tag };
        } else if sequence::frees(&mut rng) {
            check_pattern(A::NAME, step, slot.ptr, slot.size, slot.tag);
            // SAFETY: the slot's layout was valid when it was allocated.
            let layout = unsafe { Layout::from_size_align_unchecked(slot.size, slot.align) };
            // SAFETY: the block is allocated with `layout` and dropped from the table here.
            unsafe { measured_free::<A>(slot.ptr, layout) };
            counts.free += 1;
            slots[i] = EMPTY;
        } else {
            let new_size = sequence::resize(&mut rng, slot.size);
            // SAFETY: the slot's layout was valid when it was allocated.
            let layout = unsafe { Layout::from_size_align_unchecked(slot.size, slot.align) };
            // SAFETY: the block is allocated with `layout`; the slot is updated below.
            let p = unsafe { measured_realloc::<A>(slot.ptr, layout, new_size) };
            if p.is_null() {
                if A::REUSES_MEMORY {
                    fail(A::NAME, step, "realloc refused");
                }
                stopped_at_oom = true;
                break;
            }
            counts.realloc += 1;
            let new_layout = match Layout::from_size_align(new_size, slot.align) {
                Ok(l) => l,
                Err(_) => fail(A::NAME, step, "bad resize"),
            };
            check_block(A::NAME, step, p, new_layout, &arena_range);
            check_pattern(A::NAME, step, p, slot.size.min(new_size), slot.tag);
            // SAFETY: `p` is valid for `new_size` bytes.
            unsafe { ptr::write_bytes(p, slot.tag, new_size) };
            slots[i] = Slot { ptr: p, size: new_size, ..slot };
        }
    }

    if !A::validate() {
        fail(A::NAME, OPS, "the allocator's own validation failed");
    }
    hprintln!(
        "ok {} alloc={} free={} realloc={} stopped_at_oom={} calibration={}",
        A::NAME,
        counts.alloc,
        counts.free,
        counts.realloc,
        stopped_at_oom,
        marker::CALIBRATION_INSNS
    );
    exit(true)
}

/// Calibrates the markers and hands the arena to `A`; returns the arena's address range.
fn start<A: Allocator>() -> core::ops::Range<usize> {
    for _ in 0..CALIBRATIONS {
        marker::empty();
        marker::calibration_loop();
    }
    let arena = ARENA.0.get().cast::<u8>();
    // SAFETY: the arena is a static used by nothing else, handed over exactly once.
    if !unsafe { A::init(arena, ARENA_LEN) } {
        fail(A::NAME, 0, "the allocator refused the arena");
    }
    arena.addr()..arena.addr() + ARENA_LEN
}

/// Build-and-teardown cycles of the small-object sequence.
pub const SMALL_CYCLES: u32 = 24;
/// Churn steps of the small-object sequence.
pub const SMALL_CHURN: u32 = 2000;

/// The small-object sequence (every request ≤ 256 bytes, alignment 4 or 8, no realloc): what
/// a slab front end is for, the on-target counterpart of the host's tree and map workloads.
///
/// 1. [`SMALL_CYCLES`] times: fill all [`SLOTS`] slots (a tree being built), then free them
///    all in a random order (the tree dropped).
/// 2. [`SMALL_CHURN`] steps as in [`run`]'s sequence without resizes: a random slot is
///    filled if empty, else freed with probability 3/5 (a map's nodes and values churning).
///
/// Sizes: 40 % 1..=32, 35 % 33..=64, 20 % 65..=128, 5 % 129..=256 bytes. Every block is
/// checked as in [`run`].
pub fn run_small<A: Allocator>() -> ! {
    let arena = start::<A>();
    let mut rng = Rand32::new(SEED);
    let mut slots = [EMPTY; SLOTS];
    let mut counts = Counts::default();
    let mut tag: u8 = 0;
    let mut step = 0;
    let mut alloc_into = |slot: &mut Slot, rng: &mut Rand32, step: u32| {
        let size = draw_small_size(rng);
        let align = if rng.rand_range(0..2) == 0 { 4 } else { 8 };
        let Ok(layout) = Layout::from_size_align(size, align) else {
            fail(A::NAME, step, "bad layout drawn");
        };
        let p = measured_alloc::<A>(layout);
        if p.is_null() {
            fail(A::NAME, step, "alloc refused");
        }
        check_block(A::NAME, step, p, layout, &arena);
        tag = tag.wrapping_add(1).max(1);
        // SAFETY: `p` is a fresh block of `size` bytes.
        unsafe { ptr::write_bytes(p, tag, size) };
        *slot = Slot { ptr: p, size, align, tag };
        counts.alloc += 1;
    };
    let free = |slot: &mut Slot, step: u32| {
        check_pattern(A::NAME, step, slot.ptr, slot.size, slot.tag);
        // SAFETY: the slot's layout was valid when it was allocated.
        let layout = unsafe { Layout::from_size_align_unchecked(slot.size, slot.align) };
        // SAFETY: the block is allocated with `layout` and dropped from the table here.
        unsafe { measured_free::<A>(slot.ptr, layout) };
        *slot = EMPTY;
    };
    let mut frees = 0;
    for _ in 0..SMALL_CYCLES {
        for slot in slots.iter_mut() {
            alloc_into(slot, &mut rng, step);
            step += 1;
        }
        for live in (1..=SLOTS).rev() {
            // The `k`-th live slot, `k` uniform: a random teardown order.
            let k = rng.rand_range(0..live as u32) as usize;
            let Some(slot) = slots.iter_mut().filter(|s| !s.ptr.is_null()).nth(k) else {
                fail(A::NAME, step, "slot table out of step");
            };
            free(slot, step);
            frees += 1;
            step += 1;
        }
    }
    for _ in 0..SMALL_CHURN {
        let i = rng.rand_range(0..SLOTS as u32) as usize;
        if slots[i].ptr.is_null() {
            alloc_into(&mut slots[i], &mut rng, step);
        } else if rng.rand_range(0..5) < 3 {
            free(&mut slots[i], step);
            frees += 1;
        }
        step += 1;
    }
    counts.free = frees;
    if !A::validate() {
        fail(A::NAME, step, "the allocator's own validation failed");
    }
    hprintln!(
        "ok {} alloc={} free={} realloc={} stopped_at_oom=false calibration={}",
        A::NAME,
        counts.alloc,
        counts.free,
        counts.realloc,
        marker::CALIBRATION_INSNS
    );
    exit(true)
}

fn draw_small_size(rng: &mut Rand32) -> usize {
    let (lo, hi) = match rng.rand_range(0..100) {
        0..=39 => (1, 32),
        40..=74 => (33, 64),
        75..=94 => (65, 128),
        _ => (129, 256),
    };
    rng.rand_range(lo..hi + 1) as usize
}

/// `A::alloc` between markers.
#[inline(always)]
fn measured_alloc<A: Allocator>(layout: Layout) -> *mut u8 {
    let (size, align) = marker::open2(Kind::Alloc, layout.size(), layout.align());
    // SAFETY: `open2` returns its inputs unchanged, and they came from a valid `Layout`.
    let layout = unsafe { Layout::from_size_align_unchecked(size, align) };
    let p = A::alloc(layout);
    marker::close(p);
    p
}

/// `A::free` between markers.
///
/// # Safety
///
/// As [`Allocator::free`].
#[inline(always)]
unsafe fn measured_free<A: Allocator>(ptr: *mut u8, layout: Layout) {
    let (ptr, size, align) = marker::open3(Kind::Free, ptr, layout.size(), layout.align());
    // SAFETY: `open3` returns its inputs unchanged, and they came from a valid `Layout`.
    let layout = unsafe { Layout::from_size_align_unchecked(size, align) };
    // SAFETY: forwarded caller contract (the pointer passed through unchanged).
    unsafe { A::free(ptr, layout) };
    marker::close(ptr::null_mut());
}

/// `A::realloc` between markers.
///
/// # Safety
///
/// As [`Allocator::realloc`].
#[inline(always)]
unsafe fn measured_realloc<A: Allocator>(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let (ptr, size, align, new_size) =
        marker::open4(Kind::Realloc, ptr, layout.size(), layout.align(), new_size);
    // SAFETY: `open4` returns its inputs unchanged, and they came from a valid `Layout`.
    let layout = unsafe { Layout::from_size_align_unchecked(size, align) };
    // SAFETY: forwarded caller contract (the pointer passed through unchanged).
    let p = unsafe { A::realloc(ptr, layout, new_size) };
    marker::close(p);
    p
}

fn check_block(name: &str, step: u32, p: *mut u8, layout: Layout, arena: &core::ops::Range<usize>) {
    let start = p.addr();
    if !start.is_multiple_of(layout.align()) {
        fail(name, step, "misaligned block");
    }
    if start < arena.start || start.saturating_add(layout.size()) > arena.end {
        fail(name, step, "block outside the arena");
    }
}

fn check_pattern(name: &str, step: u32, p: *mut u8, len: usize, tag: u8) {
    for k in 0..len {
        // SAFETY: `p` is an allocated block of at least `len` bytes, all written with `tag`.
        if unsafe { p.add(k).read() } != tag {
            fail(name, step, "payload corrupted");
        }
    }
}

fn fail(name: &str, step: u32, what: &str) -> ! {
    hprintln!("FAIL {} at step {}: {}", name, step, what);
    exit(false)
}
