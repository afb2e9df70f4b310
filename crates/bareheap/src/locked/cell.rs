use core::cell::{Cell, UnsafeCell};

use crate::heap::Claim;
use crate::{Region, RegionError};

/// A heap shared by reference within one thread: the single-thread sibling of
/// [`Locked`](crate::Locked), with no lock at all.
///
/// `HeapCell` is `!Sync`, so the compiler keeps it on one thread; a `busy` flag catches
/// re-entry (a use of the cell from inside its own [`with`](HeapCell::with), e.g. an allocation
/// inside an out-of-memory hook), which fails with `None` instead of panicking like a
/// `RefCell` would. With the `allocator-api2` feature, `&HeapCell<H>` is an `Allocator`, so an
/// arena on a stack or static buffer can back `allocator_api2::vec::Vec` on stable Rust.
///
/// # Invariants
///
/// - **HC1** `heap` is reached only inside [`with`](HeapCell::with), while `busy` is `true`;
///   `with` sets `busy` before creating the `&mut H` and clears it after that reference is gone.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use core::mem::MaybeUninit;
/// use bareheap::{Bump, Heap, HeapCell, Region};
///
/// let mut buf = [MaybeUninit::<u8>::uninit(); 256];
/// // SAFETY: `buf` outlives the arena and is not touched while the arena uses it.
/// let region = unsafe { Region::new(buf.as_mut_ptr().cast(), buf.len()) }.unwrap();
/// let arena = HeapCell::new(Bump::new());
/// arena.claim(region).unwrap();
///
/// let p = arena.with(|heap| heap.allocate(Layout::new::<u64>())).unwrap();
/// assert!(p.is_some());
/// // Re-entry is refused, not a panic:
/// assert_eq!(arena.with(|_| arena.with(|_| ())), Some(None));
/// ```
pub struct HeapCell<H> {
    busy: Cell<bool>,
    heap: UnsafeCell<H>,
}

impl<H> HeapCell<H> {
    /// Wraps `heap`. A `const fn`.
    pub const fn new(heap: H) -> Self {
        HeapCell { busy: Cell::new(false), heap: UnsafeCell::new(heap) }
    }

    /// Runs `f` with exclusive access to the heap. Returns `None`, without running `f`, when
    /// called from inside another `with` on the same cell (re-entry).
    pub fn with<R>(&self, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        if self.busy.replace(true) {
            return None;
        }
        /// Clears `busy` on drop, so a panic in `f` does not leave the cell unusable.
        struct Clear<'a>(&'a Cell<bool>);
        impl Drop for Clear<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _clear = Clear(&self.busy);
        // SAFETY: `busy` was false and is now true, so no other `&mut H` exists (HC1), and none
        // can be made until `_clear` drops, after `f` returns. `HeapCell` is `!Sync`, so no other
        // thread can call `with` meanwhile.
        let heap = unsafe { &mut *self.heap.get() };
        Some(f(heap))
    }

    /// Unwraps the heap.
    pub fn into_inner(self) -> H {
        self.heap.into_inner()
    }

    /// Exclusive access through `&mut self`.
    pub fn get_mut(&mut self) -> &mut H {
        self.heap.get_mut()
    }
}

impl<H: Claim> HeapCell<H> {
    /// Gives `region` to the heap (see [`Claim::claim`]).
    ///
    /// # Errors
    ///
    /// The heap's [`RegionError`], or [`RegionError::Busy`] on re-entry.
    pub fn claim(&self, region: Region) -> Result<usize, RegionError> {
        self.with(|heap| heap.claim(region)).unwrap_or(Err(RegionError::Busy))
    }
}

impl<H: Default> Default for HeapCell<H> {
    fn default() -> Self {
        Self::new(H::default())
    }
}
