//! Bump-pointer allocators: the book's first allocator, done right.
//!
//! A bump allocator hands out memory by moving one offset forward. It is the smallest and
//! fastest allocator there is, and the right one for programs that allocate at start-up and
//! never free (or free everything at once with [`Bump::reset`]).
//!
//! ```text
//!  region base                    next                          region end
//!  |  block A  |pad|  block B  |  |                                 |
//!  +-----------+---+-----------+--+---------------------------------+
//!  <------------ used() -------->  <--------- remaining() ---------->
//! ```
//!
//! # Properties
//!
//! - Time: O(1) for every operation, no loops except the compare-and-swap retry of
//!   [`AtomicBump`] (which retries only when another context allocated in between).
//! - Overhead: none per block; alignment padding only.
//! - Freeing: only the most recent block is reclaimed (and grown or shrunk in place); every
//!   other free is a no-op, so memory is lost until [`Bump::reset`].
//!
//! # Changes from the book's allocator
//!
//! The book's `BumpPointerAlloc` computes `head + size` unchecked, and its `UnsafeCell` head is
//! not interrupt-safe. Here every step is checked arithmetic (an allocation that does not fit
//! returns null, at any alignment up to `2^(usize::BITS - 1)`), the last block is reclaimed on
//! free, and [`AtomicBump`] is safe to share with interrupt handlers: lock-free where the target
//! has compare-and-swap, a critical section where it has not (thumbv6m, feature
//! `critical-section`).
//!
//! # Invariants
//!
//! - **B1** `next <= len`: every handed-out block lies inside `[base, base + len)`.
//! - **B2** For [`Bump`], `last` is `NO_LAST` or the offset of the most recently allocated block
//!   still live, and `last <= next`; blocks never overlap because `next` only decreases to the
//!   start of that last block.
//! - **B3** `base` carries the provenance of the claimed region (it comes from a `Region`).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
#[cfg(not(loom))]
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
// The loom model of the CAS path (crates/bareheap-testkit/loom) builds with loom's atomics.
#[cfg(loom)]
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::heap::{Claim, Corruption, Heap};
use crate::sanitize;
use crate::{Region, RegionError};

/// `last` when no block can be reclaimed.
const NO_LAST: usize = usize::MAX;

/// Where a block of `layout` would go if the free space starts at `base_addr + next`:
/// returns `(start, end)` offsets from `base_addr`, or `None` if it does not fit in `len`.
/// Zero-size requests take one byte so that every block is unique.
fn place(base_addr: usize, next: usize, len: usize, layout: Layout) -> Option<(usize, usize)> {
    let free = base_addr.checked_add(next)?;
    let aligned = free.checked_next_multiple_of(layout.align())?;
    let start = aligned - base_addr;
    let end = start.checked_add(layout.size().max(1))?;
    (end <= len).then_some((start, end))
}

/// A bump allocator over one region, used through `&mut self` (wrap it in
/// [`Locked`](crate::Locked) to share it, or use [`AtomicBump`]).
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use bareheap::{Bump, Claim, Heap, HeapMemory};
///
/// static MEMORY: HeapMemory<256> = HeapMemory::new();
/// let mut bump = Bump::new();
/// bump.claim(MEMORY.take().unwrap()).unwrap();
///
/// let word = Layout::new::<u64>();
/// let mut blocks = Vec::new();
/// while let Some(p) = bump.allocate(word) {
///     blocks.push(p); // allocate to exhaustion
/// }
/// assert_eq!(blocks.len(), 256 / 8);
/// assert_eq!(bump.remaining(), 0);
///
/// // Freeing the last block gives its memory back; freeing another one does not.
/// // SAFETY: each block was allocated by `bump` with `word`.
/// unsafe { bump.deallocate(blocks.pop().unwrap(), word) };
/// assert_eq!(bump.remaining(), 8);
/// assert!(bump.allocate(word).is_some());
///
/// // SAFETY: none of the blocks is used after this.
/// unsafe { bump.reset() };
/// assert_eq!(bump.used(), 0);
/// ```
#[derive(Debug)]
pub struct Bump {
    base: NonNull<u8>,
    len: usize,
    next: usize,
    last: usize,
}

// SAFETY: `Bump` owns its region exclusively (R2); moving it moves that ownership.
unsafe impl Send for Bump {}

impl Bump {
    /// A bump allocator with no memory: every allocation fails until [`Claim::claim`].
    pub const fn new() -> Self {
        Bump { base: NonNull::dangling(), len: 0, next: 0, last: NO_LAST }
    }

    /// Bytes handed out so far, padding included.
    pub fn used(&self) -> usize {
        self.next
    }

    /// Bytes still available (before alignment padding).
    pub fn remaining(&self) -> usize {
        self.len - self.next
    }

    /// The size of the claimed region (0 before `claim`).
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Forgets every block: the whole region is available again.
    ///
    /// # Safety
    ///
    /// No block allocated before the reset may be used (read, written or deallocated) after it.
    pub unsafe fn reset(&mut self) {
        // SAFETY: `[base, base + next)` is the claimed region's used part (B1), free again.
        unsafe { sanitize::poison(self.base.as_ptr(), self.next) };
        self.next = 0;
        self.last = NO_LAST;
    }

    /// The offset of `ptr` from the region base, if it points into the region.
    fn offset_of(&self, ptr: NonNull<u8>) -> Option<usize> {
        let off = ptr.as_ptr().addr().checked_sub(self.base.as_ptr().addr())?;
        (off < self.len).then_some(off)
    }
}

impl Default for Bump {
    fn default() -> Self {
        Self::new()
    }
}

impl Claim for Bump {
    /// Takes the one region a bump allocator uses.
    ///
    /// # Errors
    ///
    /// [`RegionError::AlreadyClaimed`] if a region was claimed before.
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        if self.len != 0 {
            return Err(RegionError::AlreadyClaimed);
        }
        self.base = region.base();
        self.len = region.len();
        // SAFETY: the region is ours (R2) and all of it is unused.
        unsafe { sanitize::poison(self.base.as_ptr(), self.len) };
        self.next = 0;
        self.last = NO_LAST;
        Ok(self.len)
    }
}

// SAFETY: blocks are carved from `[base + next, base + len)` and `next` moves past them (B1), so
// they are in bounds, aligned by `place`, and disjoint; `next` only moves back to the start of
// the most recent live block (B2). Nothing panics: all arithmetic is checked.
unsafe impl Heap for Bump {
    /// # Time complexity
    ///
    /// O(1).
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let (start, end) = place(self.base.as_ptr().addr(), self.next, self.len, layout)?;
        self.next = end;
        self.last = start;
        // SAFETY: `start < end <= len` (B1), so the pointer stays inside the claimed region,
        // whose base is non-null and carries its provenance (B3).
        let p = unsafe { self.base.add(start) };
        // SAFETY: the new block `[start, end)` is in the region; padding before it stays
        // poisoned.
        unsafe { sanitize::unpoison(p.as_ptr(), end - start) };
        Some(p)
    }

    /// Reclaims the block if it is the most recent one; otherwise does nothing.
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, _layout: Layout) {
        // Our own record decides, not the caller's layout, so a wrong layout cannot make
        // `next` cut into a live block.
        match self.offset_of(ptr) {
            Some(off) if off == self.last => {
                // SAFETY: the reclaimed block `[last, next)` is in the region (B1, B2).
                unsafe { sanitize::poison(ptr.as_ptr(), self.next - self.last) };
                self.next = self.last;
                self.last = NO_LAST;
            }
            Some(_) => {} // not the most recent block: not reclaimed (documented no-op)
            None => crate::fault::report(
                crate::fault::HeapKind::Bump,
                crate::fault::FaultKind::Outside,
                ptr.as_ptr().addr(),
            ),
        }
    }

    /// Grows the most recent block in place; moves any other block.
    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        if self.offset_of(ptr) == Some(self.last) {
            let end = self.last.checked_add(new_size.max(1))?;
            if end > self.len {
                return None;
            }
            // SAFETY: the block `[last, end)` is in the region (`end <= len`).
            unsafe { sanitize::unpoison(ptr.as_ptr(), end - self.last) };
            self.next = end;
            return Some(ptr);
        }
        // SAFETY: forwarded caller contract.
        unsafe { crate::heap::move_block(self, ptr, old, new_size) }
    }

    /// Shrinks in place; the most recent block also gives back its tail.
    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        _old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        if self.offset_of(ptr) == Some(self.last) {
            // `last + new_size <= last + old size <= next`, so this cannot overflow.
            let end = self.last + new_size.max(1);
            // SAFETY: the freed tail `[end, next)` is in the region (B1).
            unsafe {
                sanitize::poison(
                    ptr.as_ptr().wrapping_add(end - self.last),
                    self.next.saturating_sub(end),
                )
            };
            self.next = end;
        }
        Some(ptr)
    }

    fn validate(&self) -> Result<(), Corruption> {
        let addr = self.base.as_ptr().addr();
        if self.next > self.len {
            return Err(Corruption { what: "B1: next beyond the region end", addr });
        }
        if self.last != NO_LAST && self.last >= self.next {
            return Err(Corruption { what: "B2: last block starts at or after next", addr });
        }
        if addr.checked_add(self.len).is_none() {
            return Err(Corruption { what: "R1: region wraps around", addr });
        }
        Ok(())
    }
}

/// A bump allocator that is its own `#[global_allocator]`: lock-free and interrupt-safe.
///
/// Allocation is a compare-and-swap on the `next` offset where the target has one; on targets
/// without (thumbv6m), each update runs in a short critical section (feature
/// `critical-section`). An interrupt handler may allocate at any point, including in the middle
/// of a thread-mode allocation.
///
/// Freeing the most recent block gives it back (the block's end must be the current `next`,
/// computed from the layout `GlobalAlloc` passes, which its contract makes the allocation's);
/// every other free is a no-op.
///
/// # Examples
///
/// ```
/// use core::alloc::{GlobalAlloc, Layout};
/// use bareheap::{AtomicBump, HeapMemory};
///
/// static MEMORY: HeapMemory<1024> = HeapMemory::new();
/// static BUMP: AtomicBump = AtomicBump::new();
///
/// BUMP.claim(MEMORY.take().unwrap()).unwrap();
/// let layout = Layout::new::<[u8; 100]>();
/// // SAFETY: non-zero size; freed with the same layout.
/// unsafe {
///     let p = BUMP.alloc(layout);
///     assert!(!p.is_null());
///     BUMP.dealloc(p, layout); // the most recent block: reclaimed
/// }
/// assert_eq!(BUMP.used(), 0);
/// ```
pub struct AtomicBump {
    /// The region base (null until claimed). Written once, before `len`.
    base: AtomicPtr<u8>,
    /// The region length; non-zero only after `base` is set (Release/Acquire).
    len: AtomicUsize,
    /// Offset of the first free byte (B1).
    next: AtomicUsize,
    /// The most passes one `alloc` made through its compare-and-swap loop (feature
    /// `loop-counters`, F6).
    #[cfg(feature = "loop-counters")]
    max_passes: core::sync::atomic::AtomicUsize,
}

impl AtomicBump {
    /// An allocator with no memory: every allocation returns null until [`claim`](Self::claim).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        AtomicBump {
            base: AtomicPtr::new(ptr::null_mut()),
            len: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            #[cfg(feature = "loop-counters")]
            max_passes: core::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// [`AtomicBump::new`] under loom (not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        AtomicBump {
            base: AtomicPtr::new(ptr::null_mut()),
            len: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            #[cfg(feature = "loop-counters")]
            max_passes: core::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Gives the allocator its one region.
    ///
    /// # Errors
    ///
    /// [`RegionError::AlreadyClaimed`] if a region was claimed before.
    pub fn claim(&self, region: Region) -> Result<usize, RegionError> {
        if !atomic::compare_exchange_ptr(&self.base, ptr::null_mut(), region.base().as_ptr()) {
            return Err(RegionError::AlreadyClaimed);
        }
        // SAFETY: the region is ours (R2) and unused: no allocation can start before the
        // `len` store below publishes it.
        unsafe { sanitize::poison(region.base().as_ptr(), region.len()) };
        self.len.store(region.len(), Ordering::Release);
        Ok(region.len())
    }

    /// Bytes handed out so far, padding included.
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }

    /// Bytes still available (before alignment padding).
    pub fn remaining(&self) -> usize {
        self.len.load(Ordering::Acquire).saturating_sub(self.used())
    }

    /// Forgets every block.
    ///
    /// # Safety
    ///
    /// No block allocated before the reset may be used after it, and no allocation may be in
    /// progress in another context (it could hand out memory the reset just reclaimed twice).
    pub unsafe fn reset(&self) {
        self.next.store(0, Ordering::Relaxed);
    }

    /// The most passes any one `alloc` has made through its compare-and-swap loop (feature
    /// `loop-counters`, for tests of the worst-case bound, RELIABILITY.md F6): 1 when no
    /// allocation ever lost a race.
    #[cfg(feature = "loop-counters")]
    pub fn max_loop_iterations(&self) -> usize {
        self.max_passes.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// Checks the invariants.
    ///
    /// # Errors
    ///
    /// [`Corruption`] if `next` is past the region end.
    pub fn validate(&self) -> Result<(), Corruption> {
        let len = self.len.load(Ordering::Acquire);
        let base = self.base.load(Ordering::Relaxed).addr();
        if self.next.load(Ordering::Relaxed) > len {
            return Err(Corruption { what: "B1: next beyond the region end", addr: base });
        }
        Ok(())
    }
}

impl Default for AtomicBump {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: each block is the range `[start, end)` that one successful compare-and-swap moved
// `next` past, so no two live blocks overlap and all lie inside the region (B1); `place` aligns
// them. Reclaiming moves `next` back only from exactly the block's end, which no later block can
// have claimed (its CAS would have moved `next` further). Nothing panics.
unsafe impl GlobalAlloc for AtomicBump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Acquire pairs with the Release in `claim`: a non-zero `len` means `base` is set.
        let len = self.len.load(Ordering::Acquire);
        if len == 0 {
            return ptr::null_mut();
        }
        let base = self.base.load(Ordering::Relaxed);
        let mut next = self.next.load(Ordering::Relaxed);
        #[cfg(feature = "loop-counters")]
        let mut passes = 0usize;
        loop {
            #[cfg(feature = "loop-counters")]
            {
                passes += 1;
                self.max_passes.fetch_max(passes, core::sync::atomic::Ordering::Relaxed);
            }
            let Some((start, end)) = place(base.addr(), next, len, layout) else {
                return ptr::null_mut();
            };
            match atomic::compare_exchange_usize(&self.next, next, end) {
                Ok(()) => {
                    // SAFETY: `start < end <= len`: inside the claimed region (B1, B3).
                    let p = unsafe { base.add(start) };
                    // SAFETY: `[start, start + size)` is the block just won by the CAS, in
                    // the region; padding before it and a zero-size block's byte stay
                    // poisoned.
                    unsafe { sanitize::unpoison(p, layout.size()) };
                    return p;
                }
                Err(current) => next = current,
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let base = self.base.load(Ordering::Relaxed);
        let Some(start) = ptr.addr().checked_sub(base.addr()) else { return };
        let Some(end) = start.checked_add(layout.size().max(1)) else { return };
        if sanitize::ACTIVE && end <= self.len.load(Ordering::Acquire) {
            // The block is dead whether or not it is reclaimed, so it is poisoned either way,
            // and before the CAS below can hand its bytes to another allocation.
            // SAFETY: `[start, end)` is in the region and is the caller's freed block, which
            // no live allocation overlaps.
            unsafe { sanitize::poison(ptr, end - start) };
        }
        // Only the most recent block ends at `next`; if anyone allocated since, this fails
        // and the block is simply not reclaimed.
        let _ = atomic::compare_exchange_usize(&self.next, end, start);
    }
}

/// Compare-and-swap, natively or inside a critical section on targets without it.
mod atomic {
    #[cfg(not(loom))]
    use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
    #[cfg(loom)]
    use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

    #[cfg(target_has_atomic = "ptr")]
    pub(super) fn compare_exchange_usize(
        a: &AtomicUsize,
        current: usize,
        new: usize,
    ) -> Result<(), usize> {
        a.compare_exchange(current, new, Ordering::AcqRel, Ordering::Relaxed).map(|_| ())
    }

    #[cfg(target_has_atomic = "ptr")]
    pub(super) fn compare_exchange_ptr(a: &AtomicPtr<u8>, current: *mut u8, new: *mut u8) -> bool {
        a.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    #[cfg(not(target_has_atomic = "ptr"))]
    pub(super) fn compare_exchange_usize(
        a: &AtomicUsize,
        current: usize,
        new: usize,
    ) -> Result<(), usize> {
        critical_section::with(|_| {
            let seen = a.load(Ordering::Relaxed);
            if seen != current {
                return Err(seen);
            }
            a.store(new, Ordering::Relaxed);
            Ok(())
        })
    }

    #[cfg(not(target_has_atomic = "ptr"))]
    pub(super) fn compare_exchange_ptr(a: &AtomicPtr<u8>, current: *mut u8, new: *mut u8) -> bool {
        critical_section::with(|_| {
            if a.load(Ordering::Relaxed) != current {
                return false;
            }
            a.store(new, Ordering::Release);
            true
        })
    }
}

#[cfg(test)]
mod tests;
