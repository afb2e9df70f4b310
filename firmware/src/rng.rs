//! A seeded xorshift32 generator: the same seed gives the same operation sequence on every run
//! and every target, so a failure printed by CI can be replayed.

/// Marsaglia's xorshift32 (shifts 13, 17, 5). Not for cryptography; fast and reproducible.
#[derive(Clone, Debug)]
pub struct XorShift32 {
    state: u32,
}

impl XorShift32 {
    /// A generator started from `seed` (zero, which would stick at zero, is replaced).
    pub const fn new(seed: u32) -> Self {
        XorShift32 { state: if seed == 0 { 0x9E37_79B9 } else { seed } }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        x
    }

    /// A value in `0..n` (`0` for `n == 0`). Multiply-shift: no division, negligible bias.
    pub fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.next_u32()) * u64::from(n)) >> 32) as u32
    }

    /// A value in `lo..=hi` (`lo` if `hi < lo`).
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, uniformly (`items` must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len() as u32) as usize;
        items[i.min(items.len() - 1)]
    }
}
