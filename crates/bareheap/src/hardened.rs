//! The `hardened` tier: [`Hardened<H>`] adds a size record in front of and a canary behind
//! every block of any heap; [`HardenedFirstFit`] and [`HardenedTlsf`] also use their heap's
//! hardened variant, which stores its free-list links encoded and checks them.
//!
//! Every detection goes to the [fault handler](crate::fault), and the call is then ignored:
//! nothing is written, so the heap stays consistent.
//!
//! # Block layout
//!
//! For a request of `s` bytes at alignment `a`, `Hardened` asks the heap inside for
//! `P + s + W` bytes at alignment `max(a, W)` (`W` the word size, `P` = `3W` rounded up to a
//! multiple of `a`) and hands out `ptr = q + P`:
//!
//! ```text
//!  q                      ptr − W          ptr                 ptr + s
//!  ├── (unused, P − W) ───┼── record ──────┼── payload (s) ────┼── canary ──┤
//! ```
//!
//! The record holds `s` XOR a tag; the canary is a second tag. Both tags mix a per-heap key
//! with `ptr`, so a record or canary copied from another block, or left from an earlier one,
//! does not match. The record sits at a fixed distance from `ptr` and is read before anything
//! that depends on the caller's layout, so a wrong layout never makes the check read outside
//! the block. The record is `2W` above `q`, where the inner heaps keep nothing while the block
//! is free (their free-list links take the first two words), so a second free still finds it
//! marked freed. The canary is stored unaligned (byte by byte where the target needs it), so
//! it starts at the first byte past the payload and a one-byte overflow hits it.
//!
//! # Checks
//!
//! On `deallocate`, `grow` and `shrink`, in this order, before anything is written:
//!
//! 1. the pointer lies inside the hull of the claimed regions ([`FaultKind::Outside`]) and is
//!    aligned as the layout says ([`FaultKind::Misaligned`]);
//! 2. the record: marked freed is a double free ([`FaultKind::NotAllocated`]); a valid record
//!    of another size is a wrong layout ([`FaultKind::LayoutMismatch`]); anything else is a
//!    damaged record ([`FaultKind::BadHeader`]: an underflow from the block before, or a
//!    pointer into a block);
//! 3. the canary is intact ([`FaultKind::CanaryDamaged`]);
//! 4. the heap inside makes its own checks (the default tier).
//!
//! # Properties
//!
//! - Works over any [`Heap`]: [`Tlsf`](crate::Tlsf), [`FirstFit`](crate::FirstFit),
//!   [`Slab`](crate::Slab), … ([`HardenedTlsf`], [`HardenedFirstFit`]).
//! - Cost: `P + W` bytes per block (32 on 64-bit, 16 on 32-bit, for alignments up to `W`), a
//!   multiply and a few compares per operation; the measured cost is in BENCHMARKS.md (rows
//!   marked "hardened").
//!
//! # Drawbacks
//!
//! - The key is derived from an optional seed and the first region's address: without a
//!   random seed ([`Hardened::with_seed`]) an attacker who knows the memory map can forge a
//!   record. The tier is aimed at bugs (overflows, double frees, wrong layouts), not at a
//!   determined attacker.
//! - A double free is seen only until the memory is handed out again (no quarantine).
//! - Large alignments cost up to the alignment in front of the block (`P`).
//! - Canaries are checked when a block is freed or resized, not by [`Heap::validate`] (the
//!   inner heap's walk), so an overflow from a block that is never freed goes unseen.
//!
//! # Invariants
//!
//! - **HD1** Every block handed out, of `s` requested bytes at alignment `a` at `ptr`, is the
//!   inner block `ptr − P(a)` of `P(a) + s + W` bytes; it holds `s ^ record(ptr)` at
//!   `ptr − W` and `canary(ptr)` at `ptr + s`, unless the program overwrote them. A block freed
//!   through `Hardened` holds `s ^ record(ptr) ^ FREED` at `ptr − W` until reused.
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
//! let mut heap = HardenedTlsf::new(bareheap::TlsfWith::new());
//! heap.claim(MEMORY.take().unwrap()).unwrap();
//!
//! let layout = Layout::from_size_align(10, 1).unwrap();
//! let p = heap.allocate(layout).unwrap();
//! // A one-byte overflow: the canary right behind the payload is hit.
//! // SAFETY: `p + 10` is inside the block the heap reserved (the canary).
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
use crate::sanitize;
use crate::tlsf::{DEFAULT_FL, DEFAULT_G, DEFAULT_SL};
use crate::{Region, RegionError, TlsfWith};

/// `FirstFit` with encoded free-list links, with size records and canaries.
pub type HardenedFirstFit = Hardened<FirstFitWith<true>>;

/// `Tlsf` with encoded, checked free-list links (its hardened variant), size records and
/// canaries. Build it with `HardenedTlsf::new(TlsfWith::new())`.
pub type HardenedTlsf = Hardened<TlsfWith<DEFAULT_FL, DEFAULT_SL, DEFAULT_G, true>>;

const W: usize = size_of::<usize>();
/// XORed into a record when its block is freed, so a second free can say "double free".
const FREED: usize = usize::MAX;
/// An odd multiplier (from the golden ratio) that spreads the address into every byte; odd
/// also when truncated to 32 bits.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// A heap whose blocks carry a size record and a canary, checked when they are freed or
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

    /// Bytes in front of a payload of alignment `align`: `3W` rounded up to `align` (HD1).
    #[inline]
    const fn front(align: usize) -> usize {
        // `align` is a power of two (a `Layout`'s): round up with a mask, not a division.
        if align > 3 * W {
            align
        } else {
            (3 * W + align - 1) & !(align - 1)
        }
    }

    /// The tags of the block at `ptr`: (canary, record mask).
    #[inline]
    fn tags(&self, ptr: *mut u8) -> (usize, usize) {
        let t = (ptr.addr() ^ self.key).wrapping_mul(SPREAD as usize);
        (t, t.rotate_left(usize::BITS / 2))
    }

    /// The inner layout for a request and the offset of the payload in it.
    #[inline]
    fn outer(layout: Layout) -> Option<(Layout, usize)> {
        let front = Self::front(layout.align());
        let size = front.checked_add(layout.size())?.checked_add(W)?;
        Some((Layout::from_size_align(size, layout.align().max(W)).ok()?, front))
    }

    /// Writes the record and canary of a block of `size` bytes at `ptr` (HD1).
    ///
    /// # Safety
    ///
    /// `ptr` must be the payload of an inner block laid out as in HD1 for `size`.
    #[inline]
    unsafe fn seal(&self, ptr: *mut u8, size: usize) {
        let (canary, record) = self.tags(ptr);
        // SAFETY: the record word lies in the inner block, `W`-aligned (caller contract, HD1).
        unsafe { ptr.wrapping_sub(W).cast::<usize>().write(size ^ record) };
        // SAFETY: the canary lies in the inner block behind the payload; unaligned store.
        unsafe { ptr.wrapping_add(size).cast::<usize>().write_unaligned(canary) };
    }

    /// Checks the block at `ptr` against `layout` (steps 1–3 of the module's Checks); reads at
    /// most the record and the canary, and writes nothing. Returns the payload's offset in the
    /// inner block.
    #[inline]
    fn check(&self, ptr: *mut u8, layout: Layout) -> Result<usize, FaultKind> {
        let a = ptr.addr();
        let front = Self::front(layout.align());
        // The inner block starts `front` below `ptr` and holds at least the canary after it.
        if a < self.lo.saturating_add(front) || a >= self.hi.saturating_sub(W) {
            return Err(FaultKind::Outside);
        }
        if a % layout.align().max(W) != 0 {
            return Err(FaultKind::Misaligned);
        }
        let (canary, record) = self.tags(ptr);
        // `--cfg bareheap_asan`: a poisoned record word is the inner heap's free space or slack
        // (a freed block's payload): refused here, where a read would be an ASan report
        // instead of the fault hook.
        if sanitize::range_is_poisoned(ptr.wrapping_sub(W), W) {
            return Err(FaultKind::NotAllocated);
        }
        // SAFETY: `ptr − W` is `W`-aligned and lies in the hull of the claimed regions: the
        // record of a block handed out, freed, or (for a pointer that is neither) memory the
        // inner heap owns (HD1, HD2).
        let stored = unsafe { ptr.wrapping_sub(W).cast::<usize>().read() } ^ record;
        let s = layout.size();
        if stored != s {
            // A size the block could have (canary inside the hull) means the record is intact.
            return Err(if stored == s ^ FREED {
                FaultKind::NotAllocated
            } else if stored <= self.hi - W - a {
                FaultKind::LayoutMismatch
            } else {
                FaultKind::BadHeader
            });
        }
        // `s` is the recorded size, so `a + s + W <= hi` was checked when it was sealed... but
        // the record may be forged: check the bound again before reading.
        if s > self.hi - W - a {
            return Err(FaultKind::BadHeader);
        }
        // A live block's canary is in its inner block, never poisoned: a poisoned one means
        // the record describes free space (stale or forged).
        if sanitize::range_is_poisoned(ptr.wrapping_add(s), W) {
            return Err(FaultKind::OverlapsFree);
        }
        // SAFETY: `[a + s, a + s + W)` lies below `hi`: the canary written by `seal` (HD1).
        let found = unsafe { ptr.wrapping_add(s).cast::<usize>().read_unaligned() };
        if found != canary {
            return Err(FaultKind::CanaryDamaged);
        }
        Ok(front)
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

// SAFETY: every block is the payload of an inner block laid out as in HD1, so its `size` bytes
// are valid, aligned to the layout (the inner block is aligned to `max(align, W)` and the
// offset is a multiple of `align`), and disjoint from other blocks by `H`'s own contract; the
// record and canary are never handed out. Nothing panics: sizes are checked.
unsafe impl<H: Heap> Heap for Hardened<H> {
    #[inline]
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let (outer, front) = Self::outer(layout)?;
        let q = self.inner.allocate(outer)?;
        let p = q.as_ptr().wrapping_add(front);
        // SAFETY: `p` is the payload of the fresh inner block `q` laid out for `layout` (HD1).
        unsafe { self.seal(p, layout.size()) };
        NonNull::new(p)
    }

    /// Checks the block (see the module's Checks), marks its record freed and frees it.
    #[inline]
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let p = ptr.as_ptr();
        let front = match self.check(p, layout) {
            Ok(front) => front,
            Err(kind) => return fault::report(HeapKind::Hardened, kind, p.addr()),
        };
        let (_, record) = self.tags(p);
        // SAFETY: the record checked out, so `p − W` is this live block's record (HD1).
        unsafe { p.wrapping_sub(W).cast::<usize>().write(layout.size() ^ record ^ FREED) };
        let Some((outer, _)) = Self::outer(layout) else { return };
        let q = p.wrapping_sub(front);
        // SAFETY: `q` is the live inner block of `outer` (HD1, caller contract); non-null as
        // it lies in a claimed region.
        unsafe { self.inner.deallocate(NonNull::new_unchecked(q), outer) };
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract; `new_size >= old.size()`.
        unsafe { self.resize(ptr, old, new_size, true) }
    }

    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract; `new_size <= old.size()`.
        unsafe { self.resize(ptr, old, new_size, false) }
    }

    /// The inner heap's walk (records and canaries are checked on free and resize, not here).
    fn validate(&self) -> Result<(), Corruption> {
        self.inner.validate()
    }
}

impl<H: Heap> Hardened<H> {
    /// `grow` (when `up`) or `shrink` through the inner heap, re-sealing the block.
    ///
    /// # Safety
    ///
    /// As [`Heap::grow`] (`up`) or [`Heap::shrink`].
    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
        up: bool,
    ) -> Option<NonNull<u8>> {
        let p = ptr.as_ptr();
        let front = match self.check(p, old) {
            Ok(front) => front,
            Err(kind) => {
                fault::report(HeapKind::Hardened, kind, p.addr());
                return None;
            }
        };
        let (outer, _) = Self::outer(old)?;
        let new_outer = front.checked_add(new_size)?.checked_add(W)?;
        // SAFETY: `p − front` is the live inner block of `outer` (HD1, caller contract).
        let q = unsafe { NonNull::new_unchecked(p.wrapping_sub(front)) };
        let new = if up {
            // SAFETY: as above; `new_outer >= outer.size()` as `new_size >= old.size()`.
            unsafe { self.inner.grow(q, outer, new_outer) }
        } else {
            // SAFETY: as above; `new_outer <= outer.size()`.
            unsafe { self.inner.shrink(q, outer, new_outer) }
        }?;
        let np = new.as_ptr().wrapping_add(front);
        // SAFETY: `new` is an inner block of `new_outer` bytes at the old alignment: HD1 for
        // `new_size` (the moved prefix and payload were copied, the record is rewritten).
        unsafe { self.seal(np, new_size) };
        NonNull::new(np)
    }
}

#[cfg(test)]
mod tests;
