//! The heaps the firmware tests exercise, and what the generic workloads need to know about each.
//!
//! Adding a heap to the firmware tests: one `impl UnderTest` here, and one binary per workload
//! in `src/bin/` (`<heap>_stress.rs`, ...), each a few lines calling the generic workload.

use bareheap::{Bump, Claim, FirstFit, Heap, Tlsf};

/// A heap the generic workloads ([`stress`](crate::stress), [`oom`](crate::oom),
/// [`isr`](crate::isr)) can drive.
pub trait UnderTest: Heap + Claim {
    /// The heap's name, for messages.
    const NAME: &'static str;

    /// At most this many bytes of a fresh heap's capacity (what `claim` returned) are lost to
    /// one block's metadata and alignment: after everything was freed (and [`drained`] called),
    /// an allocation of `capacity - ONE_BLOCK_SLACK` bytes must succeed.
    ///
    /// [`drained`]: UnderTest::drained
    const ONE_BLOCK_SLACK: usize;

    /// Called once every block has been freed: restores the full capacity where freeing alone
    /// does not (a bump allocator reclaims only its last block).
    ///
    /// # Safety
    ///
    /// No block allocated before the call may be used (read, written or freed) after it.
    unsafe fn drained(&mut self) {}
}

impl UnderTest for FirstFit {
    const NAME: &'static str = "FirstFit";
    /// `claim` returns the payload of the one free block a fresh heap is, and freeing
    /// everything coalesces back to it: all of it must be allocatable (alignment 8 is at most
    /// the heap's granule).
    const ONE_BLOCK_SLACK: usize = 0;
}

impl UnderTest for Tlsf {
    const NAME: &'static str = "Tlsf";
    /// `claim` returns the payload of the one free block a fresh region is, and freeing
    /// everything coalesces back to it; a request for all of it is served by the fallback look
    /// at its own class (alignment 8 is the 32-bit granule).
    const ONE_BLOCK_SLACK: usize = 0;
}

impl UnderTest for Bump {
    const NAME: &'static str = "Bump";
    /// A bump allocator has no per-block metadata: the whole region is one block.
    const ONE_BLOCK_SLACK: usize = 0;

    unsafe fn drained(&mut self) {
        // SAFETY: forwarded caller contract: no earlier block is used after this.
        unsafe { self.reset() }
    }
}
