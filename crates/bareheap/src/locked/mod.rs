//! Sharing a heap: [`Locked`] serialises every call through a [`RawLock`] and implements
//! [`GlobalAlloc`].
//!
//! | lock | use it for | interrupt-safe | re-entry |
//! | --- | --- | --- | --- |
//! | [`CriticalSection`] (feature `critical-section`) | firmware, the default | yes: interrupts wait | detected: the inner call fails |
//! | [`Spin`] | multi-core kernels, host | no: an ISR that allocates while its core holds the lock would spin | detected when built with [`Spin::with_core_id`]; otherwise a deadlock |
//!
//! # Out of memory in `no_std`
//!
//! `GlobalAlloc::alloc` returns null when the heap is exhausted; it never panics or waits.
//! What happens next is decided by the caller: infallible collection methods call
//! `alloc::alloc::handle_alloc_error`, which since Rust 1.68 panics in `no_std` programs, so your
//! `#[panic_handler]` decides (log, reset, halt). To handle the failure yourself, use the
//! fallible methods:
//!
//! ```
//! let mut v: Vec<u8> = Vec::new();
//! // On a 64 KiB heap this fails instead of panicking:
//! if v.try_reserve(usize::MAX / 2).is_err() {
//!     // degrade gracefully
//! }
//! ```

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use crate::heap::{Claim, Heap};
use crate::{Region, RegionError};

mod cell;
#[cfg(feature = "critical-section")]
mod critical_section;
#[cfg(target_has_atomic = "ptr")]
mod spin;

pub use self::cell::HeapCell;
#[cfg(feature = "critical-section")]
pub use self::critical_section::CriticalSection;
#[cfg(target_has_atomic = "ptr")]
pub use self::spin::Spin;

/// A mutual-exclusion primitive that [`Locked`] holds around every heap call.
///
/// # Safety
///
/// Implementors guarantee that between a successful [`acquire`](RawLock::acquire) and the
/// matching [`release`](RawLock::release), no other `acquire` on the same lock succeeds, in any
/// thread, core or interrupt handler that can reach it. `acquire` returns `None` (and holds
/// nothing) when it detects that the calling context already holds the lock. Neither method
/// panics or allocates.
pub unsafe trait RawLock {
    /// The unlocked state, for `const` construction.
    const INIT: Self;

    /// What `acquire` hands to `release` (e.g. the saved interrupt state).
    type State;

    /// Takes the lock, waiting if another context holds it. `None` on re-entry.
    fn acquire(&self) -> Option<Self::State>;

    /// Gives the lock back.
    ///
    /// # Safety
    ///
    /// `state` must come from the last successful `acquire` on `self` by the calling context,
    /// and must not have been released yet.
    unsafe fn release(&self, state: Self::State);
}

/// A heap behind a lock: usable as a `#[global_allocator]` and from interrupt handlers (with
/// [`CriticalSection`]).
///
/// # Examples
///
/// ```
/// use core::alloc::{GlobalAlloc, Layout};
/// use bareheap::{FirstFit, HeapMemory, Locked, Spin};
///
/// static MEMORY: HeapMemory<4096> = HeapMemory::new();
/// static HEAP: Locked<Spin, FirstFit> = Locked::new(FirstFit::new());
///
/// HEAP.claim(MEMORY.take().unwrap()).unwrap();
/// let layout = Layout::new::<[u32; 4]>();
/// // SAFETY: `layout` has a non-zero size; the block is freed with the same layout.
/// unsafe {
///     let p = HEAP.alloc(layout);
///     assert!(!p.is_null());
///     HEAP.dealloc(p, layout);
/// }
/// ```
///
/// # Invariants
///
/// - **LK1** `heap` is reached only inside [`Locked::lock`], between a successful
///   `RawLock::acquire` and its `release`; so at most one `&mut H` exists at any time.
pub struct Locked<L, H> {
    lock: L,
    heap: UnsafeCell<H>,
}

// SAFETY: `heap` is only reached through `Locked::lock`, which holds `lock` for the whole access
// (LK1); the `RawLock` contract makes that access exclusive across every context that can reach
// this `Locked`. `H: Send` because the heap is used from whichever context holds the lock.
unsafe impl<L: RawLock + Sync, H: Send> Sync for Locked<L, H> {}

impl<L: RawLock, H> Locked<L, H> {
    /// Wraps `heap` with an unlocked `L`. A `const fn`, for `static` allocators.
    pub const fn new(heap: H) -> Self {
        Locked { lock: L::INIT, heap: UnsafeCell::new(heap) }
    }

    /// Wraps `heap` with a lock built by the caller (e.g. [`Spin::with_core_id`]).
    pub const fn with_lock(lock: L, heap: H) -> Self {
        Locked { lock, heap: UnsafeCell::new(heap) }
    }

    /// Runs `f` with exclusive access to the heap. Returns `None`, without running `f`, when
    /// called from inside another `lock` on the same `Locked` (re-entry).
    pub fn lock<R>(&self, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        let state = self.lock.acquire()?;
        /// Releases on drop, so a panic in `f` does not leave the lock held.
        struct Release<'a, L: RawLock>(&'a L, Option<L::State>);
        impl<L: RawLock> Drop for Release<'_, L> {
            fn drop(&mut self) {
                if let Some(state) = self.1.take() {
                    // SAFETY: `state` comes from the successful `acquire` above and is released
                    // exactly once, here.
                    unsafe { self.0.release(state) }
                }
            }
        }
        let _release = Release(&self.lock, Some(state));
        // SAFETY: we hold the lock until `_release` drops, after `f` returns, so this is the
        // only reference to the heap (LK1).
        let heap = unsafe { &mut *self.heap.get() };
        Some(f(heap))
    }

    /// Unwraps the heap.
    pub fn into_inner(self) -> H {
        self.heap.into_inner()
    }

    /// Exclusive access without locking, through `&mut self`.
    pub fn get_mut(&mut self) -> &mut H {
        self.heap.get_mut()
    }
}

impl<L: RawLock, H: Claim> Locked<L, H> {
    /// Gives `region` to the heap (see [`Claim::claim`]).
    ///
    /// # Errors
    ///
    /// The heap's [`RegionError`], or [`RegionError::Busy`] on re-entry.
    pub fn claim(&self, region: Region) -> Result<usize, RegionError> {
        self.lock(|heap| heap.claim(region)).unwrap_or(Err(RegionError::Busy))
    }
}

// SAFETY: every method forwards to the `Heap`, whose contract gives valid, aligned,
// non-overlapping blocks; the lock makes the calls exclusive (LK1). Nothing here panics: a
// re-entrant call gets null (alloc, realloc) or leaks the block (dealloc).
unsafe impl<L: RawLock, H: Heap> GlobalAlloc for Locked<L, H> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.lock(|heap| heap.allocate(layout)) {
            Some(Some(p)) => p.as_ptr(),
            _ => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(ptr) = NonNull::new(ptr) else { return };
        // SAFETY: `GlobalAlloc::dealloc`'s contract: `ptr` was allocated by this allocator with
        // `layout`, which is `Heap::deallocate`'s contract. On re-entry the block leaks.
        self.lock(|heap| unsafe { heap.deallocate(ptr, layout) });
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(ptr) = NonNull::new(ptr) else {
            return ptr::null_mut();
        };
        // The caller promises a valid layout for `new_size`; check anyway, it is cheap.
        if Layout::from_size_align(new_size, layout.align()).is_err() {
            return ptr::null_mut();
        }
        let moved = self.lock(|heap| {
            if new_size >= layout.size() {
                // SAFETY: `GlobalAlloc::realloc`'s contract: `ptr` is currently allocated with
                // `layout`, and `new_size >= layout.size()` was just checked.
                unsafe { heap.grow(ptr, layout, new_size) }
            } else {
                // SAFETY: as above, with `new_size < layout.size()`.
                unsafe { heap.shrink(ptr, layout, new_size) }
            }
        });
        match moved {
            Some(Some(p)) => p.as_ptr(),
            _ => ptr::null_mut(),
        }
    }
}
