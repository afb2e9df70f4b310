//! Operation programs: what a test asks a heap to do, generated from a seed or decoded from
//! fuzzer bytes.
//!
//! An [`Op`] names live blocks by an index that the runner reduces modulo the number of live
//! blocks, so every program is valid whatever the heap answers: a program generated once can
//! be replayed against any heap, and any byte string decodes to a program.

use alloc::vec::Vec;

/// One step of an operation program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate `size` bytes aligned to `2^align_log2`. A pair that is not a valid `Layout`
    /// is counted as invalid and skipped (the heap is never called with it).
    Alloc {
        /// Requested size in bytes.
        size: usize,
        /// Log2 of the requested alignment.
        align_log2: u8,
    },
    /// Free live block number `idx % live`. Skipped when nothing is live.
    Free {
        /// Which live block.
        idx: usize,
    },
    /// Grow live block number `idx % live` by `by` bytes (`Heap::grow`). Skipped when nothing
    /// is live or the new size overflows `usize`; sizes past `isize::MAX` are passed on (the
    /// heap must answer `None`).
    Grow {
        /// Which live block.
        idx: usize,
        /// Bytes to add.
        by: usize,
    },
    /// Shrink live block number `idx % live` by `by` bytes, down to zero (`Heap::shrink`).
    Shrink {
        /// Which live block.
        idx: usize,
        /// Bytes to remove (saturating).
        by: usize,
    },
    /// Give the heap `len` more bytes, carved from the runner's reserve arena after skipping
    /// `offset` bytes (so consecutive claims with offset 0 are adjacent in memory). Skipped when
    /// the reserve is exhausted.
    Claim {
        /// Region length in bytes (0 is a legal request that `Region::new` refuses).
        len: usize,
        /// Bytes skipped before the region, which makes its base misaligned.
        offset: usize,
    },
}

/// Weights and limits for [`OpGen`].
///
/// # Distributions
///
/// - **Sizes** (`size`): 60 % in `0..=64` (small objects dominate real programs), 20 % in
///   `65..=512`, 10 % on a power-of-two edge `2^k - 1`, `2^k`, `2^k + 1` with `k` in
///   `0..=16` (where size classes and rounding change), 8 % in `513..=4096`, 2 % in
///   `4097..=max_size` (the tail, 64 KiB by default). Every size is capped at `max_size`.
/// - **Alignments** (`align_log2`): 70 % in `0..=3` (1 to 8 bytes, what most types need), 15 %
///   exactly 4 (16 bytes, `max_align_t` on 64-bit targets), 10 % in `5..=7`, 5 % in
///   `8..=max_align_log2` (up to 4096 bytes: pages, DMA buffers).
/// - **Operations** alternate between a filling phase (`Alloc` 55, `Free` 20, `Grow` 12,
///   `Shrink` 12 per 99) and a draining phase (`Alloc` 25, `Free` 50, `Grow` 12, `Shrink` 12)
///   every `phase_len` operations, so the live set swings from empty to full (and to OOM) and
///   back. `Claim` takes `claim_per_mille` out of every 1000 operations.
/// - **Grow by**: 70 % in `1..=64` (the in-place paths), 20 % in `65..=4096`, 10 % a full
///   size from the size distribution. **Shrink by**: 50 % in `1..=32`, 50 % in `1..=4096`
///   (often to zero for small blocks).
/// - **Claims**: `len` 50 % in `0..=256` (around every heap's minimum region), 50 % in
///   `257..=16384`; `offset` 0 half the time (adjacent regions), otherwise in `1..64`.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// The largest size generated.
    pub max_size: usize,
    /// The largest alignment generated, as a log2.
    pub max_align_log2: u8,
    /// Operations per filling or draining phase.
    pub phase_len: u64,
    /// `Claim` operations per 1000.
    pub claim_per_mille: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { max_size: 64 << 10, max_align_log2: 12, phase_len: 2_000, claim_per_mille: 0 }
    }
}

/// A seeded, endless generator of operations with the distributions of [`GenConfig`].
///
/// ```
/// use bareheap_testkit::{Op, OpGen};
/// let a: Vec<Op> = OpGen::new(7).take(100).collect();
/// let b: Vec<Op> = OpGen::new(7).take(100).collect();
/// assert_eq!(a, b, "the same seed gives the same program");
/// ```
#[derive(Clone, Debug)]
pub struct OpGen {
    rng: fastrand::Rng,
    cfg: GenConfig,
    n: u64,
}

impl OpGen {
    /// A generator with the default distributions.
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, GenConfig::default())
    }

    /// A generator with the given distributions.
    pub fn with_config(seed: u64, cfg: GenConfig) -> Self {
        OpGen { rng: fastrand::Rng::with_seed(seed), cfg, n: 0 }
    }

    /// A size from the size distribution.
    pub fn size(&mut self) -> usize {
        let max = self.cfg.max_size;
        let s = match self.rng.u32(0..100) {
            0..=59 => self.rng.usize(0..=64),
            60..=79 => self.rng.usize(65..=512),
            80..=89 => {
                let k = self.rng.u32(0..=16);
                (1usize << k) + self.rng.usize(0..=2) - 1
            }
            90..=97 => self.rng.usize(513..=4096),
            _ => self.rng.usize(4097..=max.max(4097)),
        };
        s.min(max)
    }

    /// An alignment (as a log2) from the alignment distribution.
    pub fn align_log2(&mut self) -> u8 {
        let a = match self.rng.u32(0..100) {
            0..=69 => self.rng.u8(0..=3),
            70..=84 => 4,
            85..=94 => self.rng.u8(5..=7),
            _ => self.rng.u8(8..=12),
        };
        a.min(self.cfg.max_align_log2)
    }

    fn grow_by(&mut self) -> usize {
        match self.rng.u32(0..10) {
            0..=6 => self.rng.usize(1..=64),
            7..=8 => self.rng.usize(65..=4096),
            _ => self.size(),
        }
    }

    fn shrink_by(&mut self) -> usize {
        if self.rng.bool() {
            self.rng.usize(1..=32)
        } else {
            self.rng.usize(1..=4096)
        }
    }

    fn claim(&mut self) -> Op {
        let len =
            if self.rng.bool() { self.rng.usize(0..=256) } else { self.rng.usize(257..=16384) };
        let offset = if self.rng.bool() { 0 } else { self.rng.usize(1..64) };
        Op::Claim { len, offset }
    }
}

impl Iterator for OpGen {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        let filling = (self.n / self.cfg.phase_len.max(1)).is_multiple_of(2);
        self.n += 1;
        if self.rng.u32(0..1000) < self.cfg.claim_per_mille {
            return Some(self.claim());
        }
        let idx = self.rng.usize(..);
        let (alloc, free, grow) = if filling { (55, 75, 87) } else { (25, 75, 87) };
        let roll = self.rng.u32(0..99);
        Some(if roll < alloc {
            Op::Alloc { size: self.size(), align_log2: self.align_log2() }
        } else if roll < free {
            Op::Free { idx }
        } else if roll < grow {
            Op::Grow { idx, by: self.grow_by() }
        } else {
            Op::Shrink { idx, by: self.shrink_by() }
        })
    }
}

/// `n` operations from [`OpGen::new(seed)`](OpGen::new).
pub fn program(seed: u64, n: usize) -> Vec<Op> {
    OpGen::new(seed).take(n).collect()
}

/// Decoding from fuzzer bytes: the full range of sizes (log-uniform up to `usize::MAX`) and
/// alignments (up to `2^(usize::BITS - 1)` and beyond, which must be skipped as invalid).
#[cfg(feature = "arbitrary")]
mod decode {
    use super::Op;
    use alloc::vec::Vec;
    use arbitrary::{Arbitrary, Result, Unstructured};

    fn size(u: &mut Unstructured<'_>) -> Result<usize> {
        // Log-uniform: a random word shifted right by a random amount, so every magnitude from
        // 0 to `usize::MAX` is about equally likely.
        let raw: usize = u.arbitrary()?;
        let shift = u.int_in_range(0..=usize::BITS - 1)?;
        Ok(raw >> shift)
    }

    impl<'a> Arbitrary<'a> for Op {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let idx = usize::from(u.arbitrary::<u16>()?);
            Ok(match u.int_in_range(0u8..=9)? {
                0..=3 => {
                    let align_log2 = if u.ratio(3, 4)? {
                        u.int_in_range(0..=12)?
                    } else {
                        u.int_in_range(0..=usize::BITS as u8)?
                    };
                    let size = if u.ratio(3, 4)? { u.int_in_range(0..=4096)? } else { size(u)? };
                    Op::Alloc { size, align_log2 }
                }
                4..=6 => Op::Free { idx },
                7 => {
                    let by = if u.ratio(3, 4)? { u.int_in_range(0..=256)? } else { size(u)? };
                    Op::Grow { idx, by }
                }
                8 => {
                    let by = if u.ratio(3, 4)? { u.int_in_range(0..=256)? } else { size(u)? };
                    Op::Shrink { idx, by }
                }
                _ => {
                    Op::Claim { len: u.int_in_range(0..=1 << 16)?, offset: u.int_in_range(0..=63)? }
                }
            })
        }
    }

    /// Decodes an operation program from arbitrary bytes (every byte string is a program).
    ///
    /// ```
    /// let ops = bareheap_testkit::decode(&[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9]);
    /// assert!(!ops.is_empty());
    /// ```
    pub fn decode(bytes: &[u8]) -> Vec<Op> {
        let mut u = Unstructured::new(bytes);
        let mut ops = Vec::new();
        while !u.is_empty() {
            match Op::arbitrary(&mut u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        ops
    }
}

#[cfg(feature = "arbitrary")]
pub use decode::decode;
