//! [`TestHeap`]: what the harness needs to know about a heap beyond the `Heap` trait.

use bareheap::{Bump, Claim, FirstFit, Heap};

use crate::reference::{RefHeap, GRANULE};

/// A heap the testkit can drive: how to make an empty one, and which promises it makes.
///
/// Implemented here for every heap of `bareheap` and for the testkit's own reference heaps.
/// Tests adapt to the constants (e.g. a bump allocator does not reuse freed blocks, so no
/// test expects it to).
pub trait TestHeap: Heap + Claim + Sized {
    /// A short name for messages, e.g. `"FirstFit"`.
    const NAME: &'static str;
    /// Whether freed blocks are reused. False for bump allocators, which only take back the
    /// last block and otherwise need [`reset`](TestHeap::reset).
    const REUSES_FREED: bool;
    /// Whether the heap accepts more than one region.
    const MULTI_REGION: bool;
    /// Whether the heap promises in-place shrink, and in-place grow into free memory that
    /// directly follows the block.
    const IN_PLACE: bool;
    /// The smallest region length, at a 4096-aligned base, that `claim` accepts.
    const MIN_REGION: usize;

    /// A heap without memory.
    fn empty() -> Self;

    /// Forgets every block at once, if the heap can (a bump allocator's `reset`). Returns
    /// whether it did.
    ///
    /// # Safety
    ///
    /// No block allocated before the call may be used (accessed or deallocated) after it.
    unsafe fn reset(&mut self) -> bool {
        false
    }
}

impl TestHeap for RefHeap {
    const NAME: &'static str = "RefHeap";
    const REUSES_FREED: bool = true;
    const MULTI_REGION: bool = true;
    const IN_PLACE: bool = true;
    const MIN_REGION: usize = GRANULE;

    fn empty() -> Self {
        RefHeap::new()
    }
}

impl TestHeap for Bump {
    const NAME: &'static str = "Bump";
    const REUSES_FREED: bool = false;
    const MULTI_REGION: bool = false;
    const IN_PLACE: bool = true;
    const MIN_REGION: usize = 1;

    fn empty() -> Self {
        Bump::new()
    }

    unsafe fn reset(&mut self) -> bool {
        // SAFETY: forwarded caller contract: no earlier block is used after the reset.
        unsafe { Bump::reset(self) };
        true
    }
}

impl TestHeap for FirstFit {
    const NAME: &'static str = "FirstFit";
    const REUSES_FREED: bool = true;
    const MULTI_REGION: bool = true;
    const IN_PLACE: bool = true;
    const MIN_REGION: usize = 32;

    fn empty() -> Self {
        FirstFit::new()
    }
}
