//! Seeded operation sequences: every allocator sees exactly the same one.
//!
//! A sequence is generated before any allocator runs, assuming every operation succeeds, so it
//! cannot depend on an allocator's behaviour. Frees and reallocs name a block by its index in the
//! live list, which the generator and the runner keep in lockstep (`Vec::swap_remove` on free).

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush, and any seed (even 0) is
/// fine. The statistical quality only has to be good enough that workloads are not periodic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The largest request of any workload (64 KiB).
pub const MAX_SIZE: u64 = 64 * 1024;

/// Draws a request size: skewed small, with a tail to 64 KiB.
///
/// | share | sizes (uniform within) | what it stands for |
/// |------:|------------------------|--------------------|
/// | 60 %  | 1..=64 B               | `Box<T>` of small structs, short strings, tree and list nodes |
/// | 30 %  | 65..=512 B             | small vectors and strings, message structs |
/// | 9 %   | 513..=4096 B           | buffers, growing collections |
/// | 1 %   | 4 KiB..=64 KiB, log-uniform | frame and packet buffers, big tables |
///
/// The mean is about 540 B. Most allocations in real programs are small (the recorded serde_json
/// trace confirms it); the tail is what makes first-fit and segregated-fit heaps fragment and
/// what stresses a heap's large-block path.
pub fn size(rng: &mut Rng) -> u64 {
    let r = rng.unit();
    if r < 0.60 {
        rng.range(1, 64)
    } else if r < 0.90 {
        rng.range(65, 512)
    } else if r < 0.99 {
        rng.range(513, 4096)
    } else {
        // log-uniform over [4 KiB, 64 KiB]
        let lo = 4096f64.ln();
        let hi = (MAX_SIZE as f64).ln();
        ((lo + rng.unit() * (hi - lo)).exp() as u64).clamp(4097, MAX_SIZE)
    }
}

/// Draws an alignment (as log2): mostly 8, some 16, a few 32..=4096.
///
/// | share | alignment | what it stands for |
/// |------:|-----------|--------------------|
/// | 90 %  | 8         | ordinary Rust types on a 64-bit host (`usize`, pointers) |
/// | 7 %   | 16        | `u128`, SIMD-friendly buffers, `max_align_t` |
/// | 3 %   | 32..=4096 (uniform over the 8 powers of two) | cache-line aligned structs, DMA buffers, page-aligned tables |
///
/// Large alignments are rare in practice but they are where heaps waste space or fail (first fit
/// must split a gap in front; buddy rounds up), so they must appear in the mix.
pub fn align_log2(rng: &mut Rng) -> u8 {
    let r = rng.unit();
    if r < 0.90 {
        3
    } else if r < 0.97 {
        4
    } else {
        rng.range(5, 12) as u8
    }
}

/// The new size of a realloc: a vector doubling (60 %, when the result stays ≤ 64 KiB) or a
/// shrink to a random size in `[old/4, old)` (40 %, `shrink_to_fit`, truncating a string).
/// Growth by doubling is what `Vec` and `String` do; shrinking is rarer in practice but exercises
/// the in-place shrink path every heap should have.
pub fn realloc_size(rng: &mut Rng, old: u64) -> u64 {
    if (rng.unit() < 0.6 && old * 2 <= MAX_SIZE) || old == 1 {
        old * 2
    } else {
        rng.range((old / 4).max(1), old - 1)
    }
}

/// One operation of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate and push onto the live list.
    Alloc {
        /// Bytes.
        size: u32,
        /// log2 of the alignment.
        align_log2: u8,
    },
    /// Free the block at `idx` of the live list (`swap_remove`).
    Free {
        /// Index into the live list.
        idx: u32,
    },
    /// Resize the block at `idx` of the live list.
    Realloc {
        /// Index into the live list.
        idx: u32,
        /// New size in bytes.
        new_size: u32,
    },
}

/// A random-actions program: fill the live list to `n` blocks (untimed), then `steady.len()`
/// timed operations around that live-set size.
#[derive(Clone, Debug)]
pub struct Program {
    /// The untimed fill: `n` allocations.
    pub fill: Vec<Op>,
    /// The measured operations.
    pub steady: Vec<Op>,
}

/// Share of steady-state operations that are reallocs, in the realloc variant.
pub const REALLOC_SHARE: f64 = 0.2;

/// Generates the random-actions program for live-set size `n`.
///
/// In the steady phase each operation is a realloc with probability [`REALLOC_SHARE`] (realloc
/// variant only) of a uniformly chosen live block; otherwise an allocation with probability 0.6
/// while fewer than `n` blocks are live and 0.4 otherwise, else a free of a uniformly chosen live
/// block. The live set therefore wanders in a narrow band around `n` (a mean-reverting random
/// walk) instead of strictly alternating, and freed blocks are scattered over the heap, as in a
/// long-running program. Sizes and alignments come from [`size`] and [`align_log2`].
pub fn random_actions(seed: u64, n: usize, steady_ops: usize, with_realloc: bool) -> Program {
    let mut rng = Rng::new(seed);
    let mut live: Vec<u64> = Vec::with_capacity(n * 2);
    let mut fill = Vec::with_capacity(n);
    for _ in 0..n {
        let s = size(&mut rng);
        fill.push(Op::Alloc { size: s as u32, align_log2: align_log2(&mut rng) });
        live.push(s);
    }
    let mut steady = Vec::with_capacity(steady_ops);
    for _ in 0..steady_ops {
        if with_realloc && !live.is_empty() && rng.unit() < REALLOC_SHARE {
            let idx = rng.below(live.len());
            let new = realloc_size(&mut rng, live[idx]);
            live[idx] = new;
            steady.push(Op::Realloc { idx: idx as u32, new_size: new as u32 });
            continue;
        }
        let p_alloc = if live.len() < n { 0.6 } else { 0.4 };
        if live.is_empty() || rng.unit() < p_alloc {
            let s = size(&mut rng);
            steady.push(Op::Alloc { size: s as u32, align_log2: align_log2(&mut rng) });
            live.push(s);
        } else {
            let idx = rng.below(live.len());
            live.swap_remove(idx);
            steady.push(Op::Free { idx: idx as u32 });
        }
    }
    Program { fill, steady }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_actions_same_seed_gives_same_program() {
        let a = random_actions(7, 100, 1000, true);
        let b = random_actions(7, 100, 1000, true);
        assert_eq!(a.steady, b.steady);
        assert_ne!(a.steady, random_actions(8, 100, 1000, true).steady);
    }

    #[test]
    fn random_actions_live_set_stays_near_n() {
        let p = random_actions(1, 1000, 100_000, false);
        let mut live = 1000i64;
        let (mut lo, mut hi) = (live, live);
        for op in &p.steady {
            match op {
                Op::Alloc { .. } => live += 1,
                Op::Free { .. } => live -= 1,
                Op::Realloc { .. } => {}
            }
            lo = lo.min(live);
            hi = hi.max(live);
        }
        assert!(lo > 900 && hi < 1100, "live set wandered to {lo}..{hi}");
    }

    #[test]
    fn size_distribution_mean_and_bounds() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let mut sum = 0;
        for _ in 0..n {
            let s = size(&mut rng);
            assert!((1..=MAX_SIZE).contains(&s));
            sum += s;
        }
        let mean = sum / n;
        assert!((450..650).contains(&mean), "mean size {mean}");
    }

    #[test]
    fn realloc_size_never_exceeds_max_or_zero() {
        let mut rng = Rng::new(5);
        for old in [1, 2, 3, 100, 32768, 40000, MAX_SIZE] {
            for _ in 0..1000 {
                let s = realloc_size(&mut rng, old);
                assert!((1..=MAX_SIZE).contains(&s) && s != old, "{old} -> {s}");
            }
        }
    }
}
