//! [`TestHeap`]: what the harness needs to know about a heap beyond the `Heap` trait.

use bareheap::{Bump, Claim, FirstFit, Heap, Slab, Tlsf};

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
    /// Every region at least this long is accepted by `claim`, whatever its base address.
    const MIN_REGION: usize;
    /// Every region shorter than this is refused by `claim`, whatever its base address,
    /// before anything is written (the A3 tests hand such regions over with fake addresses).
    const REFUSED_BELOW: usize;

    /// A heap without memory.
    fn empty() -> Self;

    /// The heap's own count of free bytes, if it keeps one (compared with a fresh heap's in
    /// the pristine check).
    fn free_bytes(&self) -> Option<usize> {
        None
    }

    /// Forgets every block at once, if the heap can (a bump allocator's `reset`). Returns
    /// whether it did.
    ///
    /// # Safety
    ///
    /// No block allocated before the call may be used (accessed or deallocated) after it.
    unsafe fn reset(&mut self) -> bool {
        false
    }

    /// The loop iterations the heap has run so far, if it counts them (feature
    /// `loop-counters`; RELIABILITY.md F6). The rig takes the difference around each call.
    fn loop_iterations(&self) -> Option<u64> {
        None
    }

    /// The most loop iterations `op` may take in the heap's current state, by its documented
    /// worst-case bound, if the heap counts them. The rig checks every call against it.
    fn loop_bound(&self, op: BoundOp) -> Option<u64> {
        let _ = op;
        None
    }
}

/// A heap operation whose loop iterations are bounded (RELIABILITY.md F6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundOp {
    /// `Heap::allocate`.
    Allocate,
    /// `Heap::deallocate`.
    Deallocate,
    /// `Heap::grow` (in place or moving).
    Grow,
    /// `Heap::shrink`.
    Shrink,
}

/// `FirstFit`'s documented bounds (first_fit/mod.rs, Properties) as loop passes, with `f` free
/// blocks and `r` regions before the call: allocate walks the list once (`f + 1` passes, the
/// last finding the end); deallocate and shrink look the region up (`r`) and walk the list to
/// the block (`f + 1`); grow looks the region up, then either absorbs the next block (a walk
/// to it) or moves: the failed absorb walk, an allocate, and a release on a list that the
/// allocation may have split one block into two (`f + 2`).
#[cfg(feature = "loop-counters")]
pub fn first_fit_bound<const HARDENED: bool>(
    heap: &bareheap::FirstFitWith<HARDENED>,
    op: BoundOp,
) -> u64 {
    let (f, r) = heap.bound_inputs();
    let (f, r) = (f as u64, r as u64);
    match op {
        BoundOp::Allocate => f + 1,
        BoundOp::Deallocate | BoundOp::Shrink => r + f + 1,
        BoundOp::Grow => r + (f + 1) + (f + 1) + (f + 2),
    }
}

impl TestHeap for RefHeap {
    const NAME: &'static str = "RefHeap";
    const REUSES_FREED: bool = true;
    const MULTI_REGION: bool = true;
    const IN_PLACE: bool = true;
    const MIN_REGION: usize = 2 * GRANULE - 1;
    const REFUSED_BELOW: usize = GRANULE;

    fn empty() -> Self {
        RefHeap::new()
    }

    fn free_bytes(&self) -> Option<usize> {
        Some(RefHeap::free_bytes(self))
    }
}

impl TestHeap for Bump {
    const NAME: &'static str = "Bump";
    const REUSES_FREED: bool = false;
    const MULTI_REGION: bool = false;
    const IN_PLACE: bool = true;
    const MIN_REGION: usize = 1;
    const REFUSED_BELOW: usize = 1;

    fn empty() -> Self {
        Bump::new()
    }

    fn free_bytes(&self) -> Option<usize> {
        Some(self.remaining())
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
    const MIN_REGION: usize = FirstFit::MIN_REGION_SIZE;
    /// One minimal block (a granule) and the four-word end record, at the best base.
    const REFUSED_BELOW: usize = 3 * FirstFit::GRANULE;

    fn empty() -> Self {
        FirstFit::new()
    }

    fn free_bytes(&self) -> Option<usize> {
        Some(FirstFit::free_bytes(self))
    }

    #[cfg(feature = "loop-counters")]
    fn loop_iterations(&self) -> Option<u64> {
        Some(FirstFit::loop_iterations(self))
    }

    #[cfg(feature = "loop-counters")]
    fn loop_bound(&self, op: BoundOp) -> Option<u64> {
        Some(first_fit_bound(self, op))
    }
}

impl TestHeap for Tlsf {
    const NAME: &'static str = "Tlsf";
    const REUSES_FREED: bool = true;
    const MULTI_REGION: bool = true;
    const IN_PLACE: bool = true;
    /// The first region carries the control block; any base alignment costs up to a granule.
    const MIN_REGION: usize = Tlsf::min_first_region_size() + bareheap::tlsf::DEFAULT_G - 1;
    /// One smallest block and the trailer, when the base is itself a header position (the
    /// best base: `min_region_size` assumes a `G`-aligned one, `G − W` bytes worse).
    const REFUSED_BELOW: usize =
        Tlsf::min_region_size() - (bareheap::tlsf::DEFAULT_G - core::mem::size_of::<usize>());

    fn empty() -> Self {
        Tlsf::new()
    }
}

/// A slab front end over a first-fit heap, keeping no empty slab pooled (`set_retain(0)`), so
/// that freeing everything gives every span back and the heap is pristine (E3).
impl TestHeap for Slab<FirstFit> {
    const NAME: &'static str = "Slab<FirstFit>";
    const REUSES_FREED: bool = true;
    const MULTI_REGION: bool = true;
    const IN_PLACE: bool = false;
    const MIN_REGION: usize = FirstFit::MIN_REGION_SIZE;
    const REFUSED_BELOW: usize = 3 * FirstFit::GRANULE;

    fn empty() -> Self {
        let mut slab = Slab::new(FirstFit::new());
        slab.set_retain(0);
        slab
    }

    fn free_bytes(&self) -> Option<usize> {
        Some(self.backing().free_bytes())
    }
}

/// The hardened tier's heaps: as their inner heaps, with the trailer's two words per block.
#[cfg(feature = "hardened")]
mod hardened {
    use super::TestHeap;
    use bareheap::hardened::{Hardened, HardenedFirstFit, HardenedTlsf};
    use bareheap::{FirstFit, FirstFitWith, Tlsf};

    /// `FirstFit` with encoded links alone (no trailer).
    impl TestHeap for FirstFitWith<true> {
        const NAME: &'static str = "FirstFitWith<true>";
        const REUSES_FREED: bool = true;
        const MULTI_REGION: bool = true;
        const IN_PLACE: bool = true;
        const MIN_REGION: usize = FirstFit::MIN_REGION_SIZE;
        const REFUSED_BELOW: usize = 3 * FirstFit::GRANULE;

        fn empty() -> Self {
            FirstFitWith::new()
        }

        fn free_bytes(&self) -> Option<usize> {
            Some(FirstFitWith::free_bytes(self))
        }

        #[cfg(feature = "loop-counters")]
        fn loop_iterations(&self) -> Option<u64> {
            Some(FirstFitWith::loop_iterations(self))
        }

        #[cfg(feature = "loop-counters")]
        fn loop_bound(&self, op: super::BoundOp) -> Option<u64> {
            Some(super::first_fit_bound(self, op))
        }
    }

    impl TestHeap for HardenedFirstFit {
        const NAME: &'static str = "Hardened<FirstFitWith<true>>";
        const REUSES_FREED: bool = true;
        const MULTI_REGION: bool = true;
        const IN_PLACE: bool = true;
        const MIN_REGION: usize = FirstFit::MIN_REGION_SIZE;
        const REFUSED_BELOW: usize = 3 * FirstFit::GRANULE;

        fn empty() -> Self {
            Hardened::new(FirstFitWith::new())
        }

        fn free_bytes(&self) -> Option<usize> {
            Some(self.inner().free_bytes())
        }
    }

    impl TestHeap for HardenedTlsf {
        const NAME: &'static str = "Hardened<Tlsf>";
        const REUSES_FREED: bool = true;
        const MULTI_REGION: bool = true;
        const IN_PLACE: bool = true;
        const MIN_REGION: usize = <Tlsf as TestHeap>::MIN_REGION;
        const REFUSED_BELOW: usize = <Tlsf as TestHeap>::REFUSED_BELOW;

        fn empty() -> Self {
            Hardened::new(bareheap::TlsfWith::new())
        }
    }
}
