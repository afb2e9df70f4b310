//! The `hardened` tier: [`Hardened<H>`] adds a canary and a size record behind every block of
//! any heap, and [`HardenedFirstFit`] also stores `FirstFit`'s free-list links encoded.
//!
//! Every detection goes to the [fault handler](crate::fault), and the call is then ignored:
//! nothing is written, so the heap stays consistent.
//!
//! # Block layout
//!
//! For a request of `s` bytes, `Hardened` asks the heap inside for `s + 2W` bytes at the same
//! alignment (`W` the word size) and puts a two-word trailer right behind the payload:
//!
//! ```text
//!  ptr                 ptr + s         ptr + s + W       ptr + s + 2W
//!  ├── payload (s) ────┼── canary ─────┼── size record ──┤
//! ```
//!
//! Both trailer words depend on a per-heap key and on `ptr`, so a trailer copied from another
//! block, or left over from an earlier one, does not match. They are stored unaligned (byte by
//! byte where the target needs it), so the canary starts at the first byte past the payload
//! and a one-byte overflow hits it.
//!
//! # Checks
//!
//! On `deallocate`, `grow` and `shrink`, in this order, before anything is written:
//!
//! 1. the pointer lies inside the hull of the claimed regions ([`FaultKind::Outside`]) and is
//!    aligned as the layout says ([`FaultKind::Misaligned`]);
//! 2. the size record matches the layout's size ([`FaultKind::LayoutMismatch`]); a record
//!    marked freed means a double free ([`FaultKind::NotAllocated`]);
//! 3. the canary is intact ([`FaultKind::CanaryDamaged`]);
//! 4. the heap inside makes its own checks (the default tier: double free, interior pointer, …).
//!
//! # Properties
//!
//! - Works over any [`Heap`]: [`Tlsf`], [`FirstFit`](crate::FirstFit),
//!   [`Slab`](crate::Slab), … ([`HardenedTlsf`], [`HardenedFirstFit`]).
//! - Cost: two words per block, a multiply and a few compares per operation; the measured
//!   throughput cost is in BENCHMARKS.md (rows marked "hardened").
//!
//! # Drawbacks
//!
//! - The key is derived from an optional seed and the first region's address: without a
//!   random seed ([`Hardened::with_seed`]) an attacker who knows the memory map can forge a
//!   trailer. The tier is aimed at bugs (overflows, double frees, wrong layouts), not at a
//!   determined attacker.
//! - A double free of a block shorter than about three words may be reported as
//!   [`FaultKind::LayoutMismatch`] or [`FaultKind::CanaryDamaged`] instead of
//!   [`FaultKind::NotAllocated`]: freeing it let the inner heap write its free-list links over
//!   the trailer. It is still reported, and still ignored.
//! - A pointer inside the hull of the regions but in a gap between two of them gets its
//!   trailer read before the inner heap refuses it. Claim adjacent regions, or one region, to
//!   close the gap.
//! - Trailers are checked when a block is freed or resized, not by [`Heap::validate`] (the
//!   inner heap's walk), so an overflow into a block that is never freed goes unseen.
//!
//! # Invariants
//!
//! - **HD1** Every block handed out, of `s` requested bytes at `ptr`, is an inner block of
//!   `s + 2W` bytes whose trailer holds `canary(ptr)` at `ptr + s` and `s ^ record(ptr)` at
//!   `ptr + s + W`, unless the program overwrote them.
//! - **HD2** `[lo, hi)` contains every region claimed; `keyed` is set once a region was
//!   claimed, and the key never changes afterwards.
//!
//! # Examples
//!
//! ```
//! use core::alloc::Layout;
//! use bareheap::hardened::HardenedTlsf;
//! use bareheap::{fault, Claim, Heap, HeapMemory};
//!
//! static MEMORY: HeapMemory<4096> = HeapMemory::new();
//! let mut heap = HardenedTlsf::new(bareheap::Tlsf::new());
//! heap.claim(MEMORY.take().unwrap()).unwrap();
//!
//! let layout = Layout::from_size_align(10, 1).unwrap();
//! let p = heap.allocate(layout).unwrap();
//! // A one-byte overflow: the canary right behind the payload is hit.
//! // SAFETY: `p + 10` is inside the block the heap reserved (the trailer).
//! unsafe { p.as_ptr().add(10).write(0x41) };
//! let before = fault::count();
//! // SAFETY: `p` is live with `layout`; the heap detects the damage and ignores the free.
//! unsafe { heap.deallocate(p, layout) };
//! assert_eq!(fault::count(), before + 1);
//! heap.validate().unwrap();
//! ```

use core::alloc::Layout;
use core::mem::size_of;
use core::ptr::NonNull;

use crate::fault::{self, FaultKind, HeapKind};
use crate::first_fit::FirstFitWith;
use crate::heap::{Claim, Corruption, Heap};
use crate::{Region, RegionError, Tlsf};

/// `FirstFit` with encoded free-list links, behind canaries and size records.
pub type HardenedFirstFit = Hardened<FirstFitWith<true>>;

/// `Tlsf` behind canaries and size records.
pub type HardenedTlsf = Hardened<Tlsf>;

const W: usize = size_of::<usize>();
/// Bytes of trailer behind every payload: the canary and the size record.
const TRAILER: usize = 2 * W;
/// XORed into a record when its block is freed, so a second free can say "double free".
const FREED: usize = usize::MAX;
/// An odd multiplier (from the golden ratio) that spreads the address into every byte; odd
/// also when truncated to 32 bits.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// A heap whose blocks carry a canary and a size record, checked when they are freed or
/// resized. See the [module documentation](self).
#[derive(Debug)]
pub struct Hardened<H> {
    inner: H,
    /// The per-heap key (HD2); the seed until the first claim.
    key: usize,
    /// Whether the key is final (HD2).
    keyed: bool,
    /// The hull of the claimed regions (HD2); `lo == hi` before the first claim.
    lo: usize,
    hi: usize,
}

impl<H> Hardened<H> {
    /// Wraps `inner`, which should have no region yet: frees of blocks in regions claimed
    /// before wrapping are refused as [`FaultKind::Outside`].
    pub const fn new(inner: H) -> Self {
        Self::with_seed(inner, 0)
    }

    /// As [`new`](Self::new), with a seed (from a hardware random number generator, say) mixed
    /// into the key.
    pub const fn with_seed(inner: H, seed: usize) -> Self {
        Hardened { inner, key: seed, keyed: false, lo: 0, hi: 0 }
    }

    /// The heap inside.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// Bytes each block costs besides what the heap inside charges: the two-word trailer.
    pub const fn overhead_per_allocation() -> usize {
        TRAILER
    }

    /// The trailer words of the block at `ptr`: (canary, record mask).
    #[inline]
    fn tags(&self, ptr: *mut u8) -> (usize, usize) {
        let t = (ptr.addr() ^ self.key).wrapping_mul(SPREAD as usize);
        (t, t.rotate_left(usize::BITS / 2))
    }

    /// Writes the trailer of a block of `size` bytes at `ptr` (HD1).
    ///
    /// # Safety
    ///
    /// `ptr` must be an inner block of at least `size + TRAILER` bytes.
    #[inline]
    unsafe fn seal(&self, ptr: NonNull<u8>, size: usize) {
        let p = ptr.as_ptr();
        let (canary, record) = self.tags(p);
        // SAFETY: the trailer lies inside the inner block (caller contract); unaligned stores.
        unsafe { p.wrapping_add(size).cast::<usize>().write_unaligned(canary) };
        // SAFETY: as above.
        unsafe { p.wrapping_add(size + W).cast::<usize>().write_unaligned(size ^ record) };
    }

    /// Checks the block at `ptr` against `layout` (steps 1–3 of the module's Checks); reads at
    /// most the trailer and writes nothing.
    #[inline]
    fn check(&self, ptr: *mut u8, layout: Layout) -> Result<(), FaultKind> {
        let a = ptr.addr();
        // The trailer must lie in the hull: `a + size + TRAILER <= hi` without overflow.
        let room = self.hi.saturating_sub(a);
        if a < self.lo || room < TRAILER {
            return Err(FaultKind::Outside);
        }
        if a % layout.align() != 0 {
            return Err(FaultKind::Misaligned);
        }
        if layout.size() > room - TRAILER {
            return Err(FaultKind::LayoutMismatch); // the real block ends before `hi`
        }
        let s = layout.size();
        let (canary, record) = self.tags(ptr);
        // SAFETY: `[a + s, a + s + 2W)` lies in the hull of the claimed regions, memory the
        // inner heap owns; if `layout` is right it is this block's trailer (HD1).
        let stored = unsafe { ptr.wrapping_add(s + W).cast::<usize>().read_unaligned() };
        if stored != s ^ record {
            return Err(if stored == s ^ record ^ FREED {
                FaultKind::NotAllocated
            } else {
                FaultKind::LayoutMismatch
            });
        }
        // SAFETY: as above.
        let found = unsafe { ptr.wrapping_add(s).cast::<usize>().read_unaligned() };
        if found != canary {
            return Err(FaultKind::CanaryDamaged);
        }
        Ok(())
    }

    /// The inner layout for a request: `size + TRAILER` bytes at the same alignment.
    #[inline]
    fn outer(layout: Layout) -> Option<Layout> {
        Layout::from_size_align(layout.size().checked_add(TRAILER)?, layout.align()).ok()
    }
}

impl<H: Claim> Claim for Hardened<H> {
    /// Passes the region to the heap inside and widens the hull; the first claim fixes the key.
    ///
    /// # Errors
    ///
    /// Those of the heap inside.
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        let (start, end) = (region.base().as_ptr().addr(), region.end_addr());
        let usable = self.inner.claim(region)?;
        if !self.keyed {
            // Murmur3's finaliser: a well-spread key from the seed and the address.
            let mut k = (self.key ^ start) as u64;
            k = (k ^ (k >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
            k = (k ^ (k >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            self.key = (k ^ (k >> 33)) as usize;
            (self.keyed, self.lo, self.hi) = (true, start, end);
        }
        (self.lo, self.hi) = (self.lo.min(start), self.hi.max(end));
        Ok(usable)
    }
}

// SAFETY: every block is an inner block of `size + TRAILER` bytes at the requested alignment
// (HD1), so its first `size` bytes are valid and disjoint from other blocks by `H`'s own
// contract; the trailer is never handed out. Nothing panics: sizes are checked.
unsafe impl<H: Heap> Heap for Hardened<H> {
    #[inline]
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let p = self.inner.allocate(Self::outer(layout)?)?;
        // SAFETY: `p` is an inner block of `size + TRAILER` bytes.
        unsafe { self.seal(p, layout.size()) };
        Some(p)
    }

    /// Checks the block (see the module's Checks), marks its record freed and frees it.
    #[inline]
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let p = ptr.as_ptr();
        if let Err(kind) = self.check(p, layout) {
            return fault::report(HeapKind::Hardened, kind, p.addr());
        }
        let (s, (_, record)) = (layout.size(), self.tags(p));
        // SAFETY: the trailer checked out, so it is this live block's (HD1).
        unsafe { p.wrapping_add(s + W).cast::<usize>().write_unaligned(s ^ record ^ FREED) };
        let Some(outer) = Self::outer(layout) else { return };
        // SAFETY: `ptr` is a live inner block of `outer` (HD1, caller contract).
        unsafe { self.inner.deallocate(ptr, outer) };
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        if let Err(kind) = self.check(ptr.as_ptr(), old) {
            fault::report(HeapKind::Hardened, kind, ptr.as_ptr().addr());
            return None;
        }
        let new_outer = new_size.checked_add(TRAILER)?;
        // SAFETY: `ptr` is a live inner block of `outer(old)` (HD1, caller contract), and
        // `new_outer >= old.size() + TRAILER`.
        let new = unsafe { self.inner.grow(ptr, Self::outer(old)?, new_outer) }?;
        // SAFETY: `new` is an inner block of `new_size + TRAILER` bytes.
        unsafe { self.seal(new, new_size) };
        Some(new)
    }

    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        if let Err(kind) = self.check(ptr.as_ptr(), old) {
            fault::report(HeapKind::Hardened, kind, ptr.as_ptr().addr());
            return None;
        }
        let new_outer = new_size.checked_add(TRAILER)?;
        // SAFETY: as in `grow`, with `new_outer <= old.size() + TRAILER`.
        let new = unsafe { self.inner.shrink(ptr, Self::outer(old)?, new_outer) }?;
        // SAFETY: `new` is an inner block of `new_size + TRAILER` bytes.
        unsafe { self.seal(new, new_size) };
        Some(new)
    }

    /// The inner heap's walk (trailers are checked on free and resize, not here).
    fn validate(&self) -> Result<(), Corruption> {
        self.inner.validate()
    }
}

#[cfg(test)]
mod tests;
