//! Helpers shared by the unit tests of the heap-management modules (stats, oom, zoned,
//! allocator).

use core::alloc::Layout;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::boxed::Box;

use crate::heap::{Claim, Corruption, Heap};
use crate::zoned::EmptyHeap;
use crate::{Bump, Region, RegionError};

/// A leaked, 64-byte aligned buffer of `len` bytes as a region.
pub(crate) fn region(len: usize) -> Region {
    #[repr(C, align(64))]
    struct Chunk([MaybeUninit<u8>; 64]);
    let chunks = len.div_ceil(64);
    let mem: &'static mut [Chunk] =
        Box::leak((0..chunks).map(|_| Chunk([MaybeUninit::uninit(); 64])).collect());
    // SAFETY: the leaked buffer is valid forever and only reachable through the region.
    unsafe { Region::new(mem.as_mut_ptr().cast(), len) }.unwrap()
}

/// One leaked buffer cut into `N` adjacent regions of `len` bytes, in address order.
pub(crate) fn adjacent_regions<const N: usize>(len: usize) -> [Region; N] {
    let mut rest = Some(region(len * N));
    core::array::from_fn(|i| {
        let whole = rest.as_mut().unwrap();
        if i + 1 < N {
            whole.split_off_front(len).unwrap()
        } else {
            rest.take().unwrap() // the last piece is what remains
        }
    })
}

/// A test heap over up to four regions: a [`Bump`] per region, tried in claim order. Stands
/// in for a multi-region heap (FirstFit, Tlsf) in the zone tests.
pub(crate) struct MultiBump {
    bumps: [Bump; 4],
    /// `(base, len)` of each claimed region, to route frees.
    spans: [(usize, usize); 4],
    count: usize,
}

impl MultiBump {
    pub(crate) const fn new() -> Self {
        MultiBump { bumps: [const { Bump::new() }; 4], spans: [(0, 0); 4], count: 0 }
    }

    fn owner(&self, ptr: NonNull<u8>) -> Option<usize> {
        let a = ptr.as_ptr().addr();
        self.spans[..self.count].iter().position(|&(b, l)| a >= b && a < b + l)
    }
}

impl Claim for MultiBump {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        if self.count == 4 {
            return Err(RegionError::AlreadyClaimed);
        }
        let span = (region.base().as_ptr().addr(), region.len());
        let n = self.bumps[self.count].claim(region)?;
        self.spans[self.count] = span;
        self.count += 1;
        Ok(n)
    }
}

// SAFETY: every block comes from one of the bumps and goes back to the bump whose region holds
// it; the regions are disjoint (R2).
unsafe impl Heap for MultiBump {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.bumps[..self.count].iter_mut().find_map(|b| b.allocate(layout))
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(i) = self.owner(ptr) {
            // SAFETY: the block came from bump `i`, whose region holds it.
            unsafe { self.bumps[i].deallocate(ptr, layout) }
        }
    }

    unsafe fn grow(&mut self, ptr: NonNull<u8>, old: Layout, new: usize) -> Option<NonNull<u8>> {
        let i = self.owner(ptr)?;
        // SAFETY: as in `deallocate`.
        if let Some(p) = unsafe { self.bumps[i].grow(ptr, old, new) } {
            return Some(p);
        }
        // SAFETY: forwarded caller contract.
        unsafe { crate::heap::move_block(self, ptr, old, new) }
    }

    fn validate(&self) -> Result<(), Corruption> {
        self.bumps.iter().try_for_each(Heap::validate)
    }
}

// SAFETY: `MultiBump::new()` has no regions.
unsafe impl EmptyHeap for MultiBump {
    const EMPTY: Self = MultiBump::new();
}

/// A small deterministic generator for op sequences.
pub(crate) struct XorShift(pub(crate) u32);

impl XorShift {
    pub(crate) fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// A distinct id per thread, for `Spin::with_core_id`.
pub(crate) fn thread_id() -> usize {
    std::thread_local!(static ID: u8 = const { 0 });
    ID.with(|id| core::ptr::from_ref(id).addr())
}
