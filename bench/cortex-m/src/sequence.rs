//! The requests of the main sequence ([`crate::run`]), without the memory: which slot each step
//! picks and what it asks for, drawn from the seeded PRNG exactly as the firmware draws them.
//!
//! This file depends on nothing but `core` and `oorandom`, so the host includes it too
//! (`#[path]` in `xtask/src/m3_calls.rs`): `cargo xtask m3-calls <bin>` replays the sequence
//! to name the request behind each instruction count the firmware measured.

use oorandom::Rand32;

/// The number of slots (the most blocks live at once).
pub const SLOTS: usize = 64;
/// The number of steps.
pub const OPS: u32 = 4000;
/// The PRNG seed.
pub const SEED: u64 = 0x6261_7265_6865_6170; // "bareheap"
/// The largest size a resize asks for.
pub const MAX_SIZE: usize = 4096;

/// What one step asks of the allocator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Request {
    /// The slot is empty: a new block of `size` bytes aligned to `align`.
    Alloc {
        /// Bytes.
        size: usize,
        /// A power of two.
        align: usize,
    },
    /// The slot's block is freed.
    Free,
    /// The slot's block is resized to `new_size` bytes (same alignment).
    Realloc {
        /// Bytes, never zero.
        new_size: usize,
    },
}

/// The PRNG state of the sequence.
pub struct Sequence(Rand32);

impl Sequence {
    /// The sequence from its first step.
    pub fn new() -> Self {
        Sequence(Rand32::new(SEED))
    }

    /// The next step: the slot it picks and what it asks. `size_of(slot)` is the size of the
    /// slot's block, `None` if the slot is empty.
    pub fn next(&mut self, size_of: impl FnOnce(usize) -> Option<usize>) -> (usize, Request) {
        let rng = &mut self.0;
        let slot = pick_slot(rng);
        let request = match size_of(slot) {
            None => {
                let size = draw_size(rng);
                Request::Alloc { size, align: draw_align(rng) }
            }
            Some(_) if frees(rng) => Request::Free,
            Some(size) => Request::Realloc { new_size: resize(rng, size) },
        };
        (slot, request)
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Self::new()
    }
}

// The draws one by one: the firmware calls these in its own loop (not `Sequence::next`, whose
// different code shape around the inlined allocator calls moved the peers' counts by up to 3 %).

/// The slot a step picks, uniformly.
pub fn pick_slot(rng: &mut Rand32) -> usize {
    rng.rand_range(0..SLOTS as u32) as usize
}

/// Whether a full slot is freed (3/5) rather than resized.
pub fn frees(rng: &mut Rand32) -> bool {
    rng.rand_range(0..5) < 3
}

/// The new size of a resized block of `size` bytes: 3/5 double it (a growing `Vec`), 1/5 halve
/// it, 1/5 draw a fresh size; at most [`MAX_SIZE`].
pub fn resize(rng: &mut Rand32, size: usize) -> usize {
    match rng.rand_range(0..5) {
        0..=2 => (size * 2).min(MAX_SIZE),
        3 => (size / 2).max(1),
        _ => draw_size(rng),
    }
}

/// Sizes (bytes): 60 % in 1..=32, 25 % in 33..=128, 12 % in 129..=512, 3 % in 513..=2048.
pub fn draw_size(rng: &mut Rand32) -> usize {
    let (lo, hi) = match rng.rand_range(0..100) {
        0..=59 => (1, 32),
        60..=84 => (33, 128),
        85..=96 => (129, 512),
        _ => (513, 2048),
    };
    rng.rand_range(lo..hi + 1) as usize
}

/// Alignments: 30 % 1, 45 % 4, 20 % 8, 3 % 16, 1 % 32, 1 % 64.
pub fn draw_align(rng: &mut Rand32) -> usize {
    match rng.rand_range(0..100) {
        0..=29 => 1,
        30..=74 => 4,
        75..=94 => 8,
        95..=97 => 16,
        98 => 32,
        _ => 64,
    }
}
