//! The `Allocator` API: `allocator_api2::alloc::Allocator` (feature `allocator-api2`, stable
//! Rust) and `core::alloc::Allocator` (feature `nightly`) for [`Locked`], [`HeapCell`] and the
//! zone handle [`InZone`](crate::InZone).
//!
//! The traits are implemented on the types themselves, so through the traits' blanket impl for
//! references, `&HEAP` and `&cell` are allocators too:
//!
//! ```
//! # #[cfg(feature = "allocator-api2")] {
//! use core::mem::MaybeUninit;
//! use allocator_api2::vec::Vec;
//! use bareheap::{Bump, HeapCell, Region};
//!
//! let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
//! // SAFETY: `buf` outlives the arena and is not touched while the arena uses it.
//! let region = unsafe { Region::new(buf.as_mut_ptr().cast(), buf.len()) }.unwrap();
//! let arena = HeapCell::new(Bump::new());
//! arena.claim(region).unwrap();
//!
//! let mut v: Vec<u32, _> = Vec::new_in(&arena);
//! v.extend([42, 83]);
//! assert_eq!(v, [42, 83]);
//! // The arena is full long before `usize::MAX`: a clean error, not a panic.
//! assert!(v.try_reserve(100_000).is_err());
//! # }
//! ```
//!
//! # Semantics
//!
//! - A zero-size request gets a dangling pointer aligned to `layout.align()`, without touching
//!   the heap, and deallocating a zero-size block does nothing (catalogue B1).
//! - `grow` and `shrink` keep the block in place where the heap can; a change of alignment
//!   moves it. `grow_zeroed` zeroes only the new tail.
//! - A call from inside the same heap's lock or cell (re-entry) fails with `AllocError`; a
//!   deallocation on re-entry leaks the block. Nothing panics.
//! - Blocks live until deallocated or until the `Locked`/`HeapCell` is dropped; moving it does
//!   not invalidate them (heaps keep their memory outside themselves).
//!
//! # `nightly` and allocator-api2's own `nightly` feature
//!
//! Do not enable allocator-api2's `nightly` feature: it turns allocator-api2's trait into
//! `core`'s, which conflicts with (or, without our `nightly`, needs) `feature(allocator_api)`.
//! Enable bareheap's `nightly` feature instead; it implements `core::alloc::Allocator` directly.

use crate::heap::Heap;
use crate::locked::{HeapCell, Locked, RawLock};

/// Exclusive access to one heap through a shared reference: [`Locked`] and [`HeapCell`].
///
/// # Safety
///
/// Implementors guarantee that every call of [`with_heap`](HeapAccess::with_heap) on the same
/// value reaches the same heap, that the `&mut` it hands to `f` is the only access to that heap
/// while `f` runs, and that a call from inside `f` (re-entry) returns `None` without running its
/// closure. It neither panics nor allocates.
pub unsafe trait HeapAccess {
    /// The shared heap.
    type Heap: Heap;

    /// Runs `f` with exclusive access to the heap; `None` on re-entry.
    fn with_heap<R>(&self, f: impl FnOnce(&mut Self::Heap) -> R) -> Option<R>;
}

// SAFETY: `Locked::lock` holds the lock around `f` (LK1) and returns `None` on re-entry
// where the lock detects it (`RawLock`'s contract).
unsafe impl<L: RawLock, H: Heap> HeapAccess for Locked<L, H> {
    type Heap = H;

    fn with_heap<R>(&self, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        self.lock(f)
    }
}

// SAFETY: `HeapCell::with` sets its busy flag around `f` and returns `None` on re-entry (HC1).
unsafe impl<H: Heap> HeapAccess for HeapCell<H> {
    type Heap = H;

    fn with_heap<R>(&self, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        self.with(f)
    }
}

/// The shared logic of the `Allocator` impls, and the impls.
#[cfg(any(feature = "allocator-api2", bareheap_nightly))]
mod methods;

#[cfg(all(test, feature = "allocator-api2"))]
mod tests;

#[cfg(all(test, bareheap_nightly))]
mod nightly_tests;
