//! Growing a heap on demand: [`OnOom`] calls a hook when an allocation fails, and retries once.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::heap::{Claim, Corruption, Heap};
use crate::stats::HeapStats;
use crate::zoned::{Zone, ZonedHeap};
use crate::{Region, RegionError};

/// A heap with an out-of-memory hook: when an allocation (or a grow or shrink) fails, the hook
/// runs with `&mut` access to the heap, may give it more memory (e.g. pages from a page
/// allocator, or a region set aside for emergencies), and the operation is retried **once**.
///
/// The hook's signature is `FnMut(&mut H, Layout) -> bool`: it receives the heap and the layout
/// that failed, and returns whether retrying makes sense (say `true` only when it added memory).
/// The type defaults to a function pointer, so a `static` can name it:
/// `Locked<CriticalSection, OnOom<FirstFit>>` with `OnOom::new(FirstFit::new(), my_hook)`.
///
/// # The hook runs inside the heap call
///
/// Wrapped in [`Locked`](crate::Locked), the hook runs with the lock held. It gets the heap
/// itself, so it never needs the global allocator, and it must not use it: an allocation through
/// the same `Locked` from inside the hook (directly, or by formatting a log message into a
/// `String`, …) is re-entry and **fails with null** where the lock detects re-entry
/// ([`CriticalSection`](crate::CriticalSection), [`Spin::with_core_id`](crate::Spin::with_core_id)),
/// and deadlocks with a plain [`Spin`](crate::Spin). The hook must not panic (allocation paths
/// must not unwind out of `GlobalAlloc`); keep it short, since interrupts may be masked.
///
/// # Properties
///
/// - Time: the heap's, plus at most one hook call and one retry per failed operation. No loops.
/// - Memory: the hook (a function pointer: one word).
///
/// # Examples
///
/// A heap that starts small and takes a reserve region the first time it runs out:
///
/// ```
/// use core::alloc::{GlobalAlloc, Layout};
/// use bareheap::{Claim, FirstFit, HeapMemory, Locked, OnOom, Spin};
///
/// static MEMORY: HeapMemory<256> = HeapMemory::new();
/// static RESERVE: HeapMemory<4096> = HeapMemory::new();
///
/// fn add_reserve(heap: &mut FirstFit, _failed: Layout) -> bool {
///     match RESERVE.take() {
///         Some(region) => heap.claim(region).is_ok(),
///         None => false, // the reserve is spent: let the allocation fail
///     }
/// }
///
/// static HEAP: Locked<Spin, OnOom<FirstFit>> =
///     Locked::new(OnOom::new(FirstFit::new(), add_reserve));
///
/// HEAP.claim(MEMORY.take().unwrap()).unwrap();
/// let big = Layout::new::<[u8; 1024]>();
/// // SAFETY: non-zero size.
/// let p = unsafe { HEAP.alloc(big) };
/// assert!(!p.is_null(), "the hook added the reserve, the retry succeeded");
/// // SAFETY: as above.
/// let q = unsafe { HEAP.alloc(Layout::new::<[u8; 8192]>()) };
/// assert!(q.is_null(), "the hook had nothing more to give");
/// ```
pub struct OnOom<H, F = fn(&mut H, Layout) -> bool> {
    heap: H,
    hook: F,
}

impl<H, F> OnOom<H, F> {
    /// Wraps `heap` with `hook`. A `const fn`, for `static` allocators.
    pub const fn new(heap: H, hook: F) -> Self {
        OnOom { heap, hook }
    }

    /// The wrapped heap.
    pub fn heap(&self) -> &H {
        &self.heap
    }

    /// The wrapped heap, e.g. to claim its first region.
    pub fn heap_mut(&mut self) -> &mut H {
        &mut self.heap
    }

    /// Unwraps the heap and the hook.
    pub fn into_parts(self) -> (H, F) {
        (self.heap, self.hook)
    }
}

impl<H, F: FnMut(&mut H, Layout) -> bool> OnOom<H, F> {
    /// Runs `op`; if it fails, runs the hook for `layout` and, if the hook says so, `op` again.
    fn retry_once<T>(
        &mut self,
        layout: Layout,
        mut op: impl FnMut(&mut H) -> Option<T>,
    ) -> Option<T> {
        if let Some(done) = op(&mut self.heap) {
            return Some(done);
        }
        if (self.hook)(&mut self.heap, layout) {
            op(&mut self.heap)
        } else {
            None
        }
    }
}

impl<H: Claim, F> Claim for OnOom<H, F> {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        self.heap.claim(region)
    }
}

impl<H: HeapStats, F> HeapStats for OnOom<H, F> {
    fn free_bytes(&self) -> usize {
        self.heap.free_bytes()
    }

    fn largest_free_block(&self) -> usize {
        self.heap.largest_free_block()
    }
}

// SAFETY: every block comes from `H` unchanged. A failed `grow`/`shrink` of `H` leaves the old
// block untouched, so retrying it after the hook (which only has `&mut H`, and so cannot free a
// block it does not own) is the same call with the same contract. Nothing here panics; the hook
// must not (documented).
unsafe impl<H: Heap, F: FnMut(&mut H, Layout) -> bool> Heap for OnOom<H, F> {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.retry_once(layout, |heap| heap.allocate(layout))
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded caller contract.
        unsafe { self.heap.deallocate(ptr, layout) }
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).ok()?;
        // SAFETY: forwarded caller contract; a failed first try leaves `ptr` allocated with
        // `old` (the `Heap::grow` contract), so the retry has the same contract.
        self.retry_once(new, |heap| unsafe { heap.grow(ptr, old, new_size) })
    }

    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).ok()?;
        // SAFETY: as in `grow`.
        self.retry_once(new, |heap| unsafe { heap.shrink(ptr, old, new_size) })
    }

    fn validate(&self) -> Result<(), Corruption> {
        self.heap.validate()
    }
}

// SAFETY: `allocate_in` and `grow_in_zone` forward to `H`'s, whose zone guarantees carry over;
// the retry is justified as for `Heap` above.
unsafe impl<H: ZonedHeap, F: FnMut(&mut H, Layout) -> bool> ZonedHeap for OnOom<H, F> {
    fn allocate_in(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>> {
        self.retry_once(layout, |heap| heap.allocate_in(zone, layout))
    }

    fn allocate_preferring(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>> {
        self.retry_once(layout, |heap| heap.allocate_preferring(zone, layout))
    }

    unsafe fn grow_in_zone(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).ok()?;
        // SAFETY: as in `grow`.
        self.retry_once(new, |heap| unsafe { heap.grow_in_zone(ptr, old, new_size) })
    }

    fn zone_of(&self, ptr: NonNull<u8>) -> Option<Zone> {
        self.heap.zone_of(ptr)
    }
}

#[cfg(test)]
mod tests;
