//! Must fail: the stress workload of `firmware::stress` on a deliberately broken heap that now
//! and then hands out the block it returned before (still live), so two blocks overlap. The
//! pattern checks must catch it and the program must exit with status 1; `cargo xtask test`
//! checks that it does, which shows the stress tests can fail.
#![no_std]
#![no_main]

use core::alloc::Layout;
use core::ptr::NonNull;

use bareheap::{Bump, Claim, Corruption, Heap, HeapMemory, Region, RegionError};
use firmware::heaps::UnderTest;
use firmware::{board, hprintln, stress};

static MEMORY: HeapMemory<{ board::ARENA }> = HeapMemory::new();

/// A `Bump` that returns its previous block again on every 50th allocation.
struct Overlapping {
    inner: Bump,
    allocations: u32,
    previous: Option<(NonNull<u8>, usize)>,
}

// SAFETY: none: this heap breaks the `Heap` contract on purpose (overlapping blocks) to show
// that the stress test notices. Every pointer it returns still lies inside its own arena and is
// valid for the requested size, so the checks read and write only memory the heap owns.
unsafe impl Heap for Overlapping {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.allocations += 1;
        if self.allocations.is_multiple_of(50) {
            if let Some((ptr, size)) = self.previous {
                if size >= layout.size() && ptr.as_ptr().addr().is_multiple_of(layout.align()) {
                    return Some(ptr);
                }
            }
        }
        let ptr = self.inner.allocate(layout)?;
        self.previous = Some((ptr, layout.size()));
        Some(ptr)
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded; a block handed out twice is at worst freed twice by the test, and
        // `Bump` ignores frees of blocks other than its last.
        unsafe { self.inner.deallocate(ptr, layout) }
    }

    fn validate(&self) -> Result<(), Corruption> {
        self.inner.validate()
    }
}

impl Claim for Overlapping {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        self.inner.claim(region)
    }
}

impl UnderTest for Overlapping {
    const NAME: &'static str = "Overlapping (deliberately broken)";
    const ONE_BLOCK_SLACK: usize = 0;

    unsafe fn drained(&mut self) {
        self.previous = None;
        // SAFETY: forwarded caller contract.
        unsafe { self.inner.drained() }
    }
}

#[firmware::entry]
fn main() -> ! {
    hprintln!("verdict_overlap: a heap that hands out overlapping blocks; expected exit status 1");
    let heap = Overlapping { inner: Bump::new(), allocations: 0, previous: None };
    stress::main("verdict_overlap", heap, &MEMORY)
}
