//! Negative controls: [`Faulty`] heaps that break one promise each, on purpose. A harness that
//! lets one of them pass is vacuous; the testkit's own tests require the [`Rig`](crate::Rig)
//! to catch every one.
//!
//! These heaps break the `Heap` contract. Use them only inside a `Rig`, whose shadow rejects
//! a bad block before anything touches it.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ptr::NonNull;

use bareheap::{Claim, Corruption, Heap, Region, RegionError};

use crate::reference::{RefHeap, GRANULE};
use crate::subject::TestHeap;

/// The faults [`Faulty`] can plant, one per heap type.
pub mod fault {
    /// Every 7th allocation hands out the previous allocation again.
    pub const OVERLAP: u8 = 0;
    /// Allocations with an alignment above 1 come back one byte past an aligned address.
    pub const MISALIGN: u8 = 1;
    /// Every 5th allocation points into a buffer that is no region of the heap.
    pub const OUTSIDE: u8 = 2;
    /// Grow always moves and copies one byte too few.
    pub const SHORT_COPY: u8 = 3;
    /// Every 3rd free is silently dropped (a leak).
    pub const LEAK: u8 = 4;
    /// `claim` writes the byte just before the region.
    pub const WRITE_BEFORE_REGION: u8 = 5;
    /// `claim` writes into the region, then refuses it.
    pub const WRITE_THEN_REFUSE: u8 = 6;
    /// `validate` reports corruption after 100 calls.
    pub const VALIDATE_FAILS: u8 = 7;
    /// Every 10th free flips a byte of another live block.
    pub const SCRIBBLE: u8 = 8;
}

/// [`RefHeap`] with the planted fault `F` (one of [`fault`]).
#[derive(Debug, Default)]
pub struct Faulty<const F: u8> {
    inner: RefHeap,
    /// Calls of the faulty method so far.
    count: u64,
    /// The last block handed out, with its size.
    last: Option<(NonNull<u8>, usize)>,
    /// Live blocks by address, with their requested size (for `SCRIBBLE`).
    sizes: BTreeMap<usize, (NonNull<u8>, usize)>,
    /// Memory that is no region (for `OUTSIDE`).
    outside: Vec<u8>,
    validations: core::cell::Cell<u64>,
}

impl<const F: u8> Faulty<F> {
    /// An empty faulty heap.
    pub fn new() -> Self {
        Faulty { outside: vec![0; 4096 + GRANULE], ..Default::default() }
    }
}

impl<const F: u8> Claim for Faulty<F> {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        let base = region.base().as_ptr();
        if F == fault::WRITE_BEFORE_REGION {
            // SAFETY: (a planted fault) the rig's regions lie inside an arena with guard bytes
            // before them, so `base - 1` is in the same allocation; no one else uses it.
            unsafe { base.wrapping_sub(1).write(0x42) };
        }
        if F == fault::WRITE_THEN_REFUSE {
            // SAFETY: the region's first byte is valid for writes (the `Region` contract).
            unsafe { base.write(!base.read()) };
            return Err(RegionError::TooSmall { min: usize::MAX });
        }
        self.inner.claim(region)
    }
}

// SAFETY: none: this heap breaks the contract on purpose (see the module docs). It is sound to
// use only under a `Rig`, which checks every block before touching it.
unsafe impl<const F: u8> Heap for Faulty<F> {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.count += 1;
        let p = match F {
            fault::OVERLAP if self.count.is_multiple_of(7) => match self.last {
                Some((p, size))
                    if size >= layout.size() && p.as_ptr().addr() % layout.align() == 0 =>
                {
                    p
                }
                _ => self.inner.allocate(layout)?,
            },
            fault::MISALIGN if layout.align() > 1 => {
                let bigger =
                    Layout::from_size_align(layout.size().checked_add(1)?, layout.align()).ok()?;
                let p = self.inner.allocate(bigger)?;
                // SAFETY: `p` is valid for `size + 1` bytes, so `p + 1` is in bounds.
                unsafe { p.add(1) }
            }
            fault::OUTSIDE if self.count.is_multiple_of(5) && layout.size() <= 4096 => {
                let p = self.outside.as_mut_ptr();
                let p = p.wrapping_add(p.align_offset(layout.align().min(GRANULE)));
                NonNull::new(p)?
            }
            _ => self.inner.allocate(layout)?,
        };
        self.last = Some((p, layout.size()));
        self.sizes.insert(p.as_ptr().addr(), (p, layout.size()));
        Some(p)
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        self.sizes.remove(&ptr.as_ptr().addr());
        if F == fault::LEAK {
            self.count += 1;
            if self.count.is_multiple_of(3) {
                return;
            }
        }
        if F == fault::SCRIBBLE {
            self.count += 1;
            if self.count.is_multiple_of(10) {
                if let Some((_, &(victim, size))) = self.sizes.iter().find(|(_, &(_, s))| s > 0) {
                    // SAFETY: (a planted fault) `victim` is a live block of `size > 0` bytes
                    // in a region; the rig holds no reference to it during this call.
                    unsafe { victim.as_ptr().write(!victim.as_ptr().read()) };
                    let _ = size;
                }
            }
        }
        let ptr = if F == fault::MISALIGN && layout.align() > 1 {
            // SAFETY: `allocate` returned the inner block plus one.
            unsafe { ptr.sub(1) }
        } else {
            ptr
        };
        // SAFETY: forwarded (the inner heap ignores pointers it does not know).
        unsafe { self.inner.deallocate(ptr, layout) }
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        if F != fault::SHORT_COPY || old.size() == 0 {
            // SAFETY: forwarded caller contract.
            return unsafe { bareheap::heap::move_block(self, ptr, old, new_size) };
        }
        let new = self.allocate(Layout::from_size_align(new_size, old.align()).ok()?)?;
        // SAFETY: `new` comes from the inner (correct) heap while `ptr` is live, so they are
        // disjoint; `old.size() - 1` bytes are in bounds of both.
        unsafe { core::ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), old.size() - 1) };
        // SAFETY: forwarded caller contract.
        unsafe { self.deallocate(ptr, old) };
        Some(new)
    }

    fn validate(&self) -> Result<(), Corruption> {
        self.validations.set(self.validations.get() + 1);
        if F == fault::VALIDATE_FAILS && self.validations.get() > 100 {
            return Err(Corruption { what: "planted corruption", addr: 0 });
        }
        self.inner.validate()
    }
}

impl<const F: u8> TestHeap for Faulty<F> {
    const NAME: &'static str = "Faulty";
    const REUSES_FREED: bool = true;
    const MULTI_REGION: bool = true;
    const IN_PLACE: bool = false;
    const MIN_REGION: usize = 2 * GRANULE - 1;
    const REFUSED_BELOW: usize = GRANULE;

    fn empty() -> Self {
        Faulty::new()
    }
}
