//! Loop-iteration counters for the worst-case time checks (RELIABILITY.md F6).
//!
//! With the feature `loop-counters` (tests only), every loop a heap runs inside an operation
//! ticks a counter the heap carries; a test reads it before and after each operation, so it
//! sees the iterations of that operation and can hold them against the documented bound
//! (e.g. `FirstFit::allocate`: at most one per free block, plus one). Without the feature
//! [`Ticks`] is a zero-sized type and [`Ticks::tick`] an empty `#[inline(always)]` function:
//! no field, no code, nothing in firmware.

#[cfg(feature = "loop-counters")]
use core::cell::Cell;

/// A count of loop iterations (zero-sized without `loop-counters`).
///
/// A `Cell`, so loops in `&self` helpers can tick it; heaps are used through `&mut` or a
/// lock, never shared between threads unlocked.
#[derive(Debug, Default)]
pub(crate) struct Ticks {
    #[cfg(feature = "loop-counters")]
    n: Cell<u64>,
}

impl Ticks {
    /// A counter at zero.
    pub(crate) const fn new() -> Self {
        Ticks {
            #[cfg(feature = "loop-counters")]
            n: Cell::new(0),
        }
    }

    /// Counts one iteration of a loop.
    #[inline(always)]
    pub(crate) fn tick(&self) {
        #[cfg(feature = "loop-counters")]
        self.n.set(self.n.get().wrapping_add(1));
    }

    /// The iterations counted so far.
    #[cfg(feature = "loop-counters")]
    pub(crate) fn get(&self) -> u64 {
        self.n.get()
    }

    /// Sets the count back to `n` (to leave a test-only walk uncounted).
    #[cfg(feature = "loop-counters")]
    pub(crate) fn set(&self, n: u64) {
        self.n.set(n);
    }
}
