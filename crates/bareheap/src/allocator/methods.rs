//! The `Allocator` methods, written once for both traits and all three types.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::HeapAccess;
use crate::heap::Heap;
use crate::locked::{HeapCell, Locked, RawLock};
use crate::zoned::{InZone, ZonedHeap};

/// Where an allocator sends new blocks: anywhere ([`Anywhere`]) or by zone ([`InZone`]).
trait Route<H: Heap> {
    /// Allocates a block for `layout`.
    fn allocate(&self, heap: &mut H, layout: Layout) -> Option<NonNull<u8>>;

    /// Grows a block, moving it only where the route allows.
    ///
    /// # Safety
    ///
    /// As for [`Heap::grow`].
    unsafe fn grow(
        &self,
        heap: &mut H,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>>;
}

/// The heap's own policy: [`Heap::allocate`] and [`Heap::grow`].
struct Anywhere;

impl<H: Heap> Route<H> for Anywhere {
    fn allocate(&self, heap: &mut H, layout: Layout) -> Option<NonNull<u8>> {
        heap.allocate(layout)
    }

    unsafe fn grow(
        &self,
        heap: &mut H,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { heap.grow(ptr, old, new_size) }
    }
}

/// A zone handle's policy: restricted to its zone, or preferring it.
impl<A: HeapAccess> Route<A::Heap> for InZone<'_, A>
where
    A::Heap: ZonedHeap,
{
    fn allocate(&self, heap: &mut A::Heap, layout: Layout) -> Option<NonNull<u8>> {
        if self.strict {
            heap.allocate_in(self.zone, layout)
        } else {
            heap.allocate_preferring(self.zone, layout)
        }
    }

    unsafe fn grow(
        &self,
        heap: &mut A::Heap,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        if self.strict {
            // SAFETY: forwarded caller contract.
            unsafe { heap.grow_in_zone(ptr, old, new_size) }
        } else {
            // SAFETY: forwarded caller contract.
            unsafe { heap.grow(ptr, old, new_size) }
        }
    }
}

/// The heap access and the route of an allocator type.
trait Parts {
    type Access: HeapAccess;
    type Route: Route<<Self::Access as HeapAccess>::Heap>;
    fn parts(&self) -> (&Self::Access, &Self::Route);
}

impl<L: RawLock, H: Heap> Parts for Locked<L, H> {
    type Access = Self;
    type Route = Anywhere;
    fn parts(&self) -> (&Self, &Anywhere) {
        (self, &Anywhere)
    }
}

impl<H: Heap> Parts for HeapCell<H> {
    type Access = Self;
    type Route = Anywhere;
    fn parts(&self) -> (&Self, &Anywhere) {
        (self, &Anywhere)
    }
}

impl<'a, A: HeapAccess> Parts for InZone<'a, A>
where
    A::Heap: ZonedHeap,
{
    type Access = A;
    type Route = Self;
    fn parts(&self) -> (&A, &Self) {
        (self.access, self)
    }
}

/// A zero-length block at `align`: what zero-size requests get (never from the heap).
fn dangling(align: usize) -> Option<NonNull<[u8]>> {
    // `align` is a `Layout`'s alignment, so non-zero.
    let ptr = NonNull::new(ptr::without_provenance_mut::<u8>(align))?;
    Some(NonNull::slice_from_raw_parts(ptr, 0))
}

fn slice(ptr: NonNull<u8>, len: usize) -> NonNull<[u8]> {
    NonNull::slice_from_raw_parts(ptr, len)
}

/// `Allocator::allocate`.
fn allocate<P: Parts + ?Sized>(this: &P, layout: Layout) -> Option<NonNull<[u8]>> {
    if layout.size() == 0 {
        return dangling(layout.align());
    }
    let (access, route) = this.parts();
    let ptr = access.with_heap(|heap| route.allocate(heap, layout))??;
    Some(slice(ptr, layout.size()))
}

/// `Allocator::deallocate`.
///
/// # Safety
///
/// `ptr` is currently allocated by `this` (through [`allocate`], [`grow`] or [`shrink`]) and
/// `layout` fits it.
unsafe fn deallocate<P: Parts + ?Sized>(this: &P, ptr: NonNull<u8>, layout: Layout) {
    if layout.size() == 0 {
        return; // a dangling block from `allocate`: the heap never saw it
    }
    // SAFETY: a non-zero-size block came from the heap, with `layout` (caller contract); on
    // re-entry `with_heap` does not run the closure and the block leaks.
    this.parts().0.with_heap(|heap| unsafe { heap.deallocate(ptr, layout) });
}

/// Moves a block to a fresh one for `new` from `route`, copying `min(old, new)` bytes.
///
/// # Safety
///
/// `ptr` is currently allocated by `heap` and `old` fits it.
unsafe fn move_to<H: Heap, R: Route<H> + ?Sized>(
    heap: &mut H,
    route: &R,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Option<NonNull<u8>> {
    let to = route.allocate(heap, new)?;
    // SAFETY: `to` is a fresh block of `new.size()` bytes, disjoint from the live block `ptr`
    // of `old.size()` bytes (the `Heap` contract); we copy what both hold.
    unsafe { ptr::copy_nonoverlapping(ptr.as_ptr(), to.as_ptr(), old.size().min(new.size())) };
    // SAFETY: caller contract.
    unsafe { heap.deallocate(ptr, old) };
    Some(to)
}

/// `Allocator::grow` and `grow_zeroed`.
///
/// # Safety
///
/// `ptr` is currently allocated by `this`, `old` fits it, and `new.size() >= old.size()`.
unsafe fn grow<P: Parts + ?Sized>(
    this: &P,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
    zeroed: bool,
) -> Option<NonNull<[u8]>> {
    let block = if old.size() == 0 {
        // `ptr` is dangling: nothing to copy or free.
        allocate(this, new)?
    } else {
        let (access, route) = this.parts();
        let moved = access.with_heap(|heap| {
            if new.align() == old.align() {
                // SAFETY: caller contract, with the same alignment as `Heap::grow` keeps.
                unsafe { route.grow(heap, ptr, old, new.size()) }
            } else {
                // SAFETY: caller contract.
                unsafe { move_to(heap, route, ptr, old, new) }
            }
        })??;
        slice(moved, new.size())
    };
    if zeroed {
        let tail = new.size() - old.size(); // caller contract: new.size() >= old.size()
                                            // SAFETY: the block is valid for `new.size()` bytes; the first `old.size()` hold the
                                            // old contents, the rest is zeroed here.
        unsafe { ptr::write_bytes(block.cast::<u8>().as_ptr().add(old.size()), 0, tail) };
    }
    Some(block)
}

/// `Allocator::shrink`.
///
/// # Safety
///
/// `ptr` is currently allocated by `this`, `old` fits it, and `new.size() <= old.size()`.
unsafe fn shrink<P: Parts + ?Sized>(
    this: &P,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Option<NonNull<[u8]>> {
    if new.size() == 0 {
        // SAFETY: caller contract (a zero-size `old` is a no-op there).
        unsafe { deallocate(this, ptr, old) };
        return dangling(new.align());
    }
    // Here `old.size() >= new.size() > 0`: `ptr` came from the heap.
    let (access, route) = this.parts();
    let moved = access.with_heap(|heap| {
        if new.align() == old.align() {
            // SAFETY: caller contract, with the same alignment as `Heap::shrink` keeps.
            unsafe { heap.shrink(ptr, old, new.size()) }
        } else {
            // SAFETY: caller contract.
            unsafe { move_to(heap, route, ptr, old, new) }
        }
    })??;
    Some(slice(moved, new.size()))
}

/// The `Allocator` methods, for an impl of either trait (they have the same signatures).
macro_rules! allocator_methods {
    ($AllocError:path) => {
        fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, $AllocError> {
            allocate(self, layout).ok_or($AllocError)
        }

        unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
            // SAFETY: the trait's contract is `deallocate`'s.
            unsafe { deallocate(self, ptr, layout) }
        }

        unsafe fn grow(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, $AllocError> {
            // SAFETY: the trait's contract is `grow`'s.
            unsafe { grow(self, ptr, old, new, false) }.ok_or($AllocError)
        }

        unsafe fn grow_zeroed(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, $AllocError> {
            // SAFETY: the trait's contract is `grow`'s.
            unsafe { grow(self, ptr, old, new, true) }.ok_or($AllocError)
        }

        unsafe fn shrink(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, $AllocError> {
            // SAFETY: the trait's contract is `shrink`'s.
            unsafe { shrink(self, ptr, old, new) }.ok_or($AllocError)
        }
    };
}

/// The impls of one `Allocator` trait for the three types.
///
/// Soundness, for all three: non-zero-size blocks come from the `Heap`, which makes them valid,
/// aligned and disjoint until deallocated (`Heap`'s contract), and the heap is reached only
/// through `HeapAccess`, so calls are exclusive. Blocks stay valid while the `Locked`/`HeapCell`
/// lives, also when it moves (a heap's blocks do not depend on where the heap value sits). An
/// `InZone` handle and its copies reach the same heap, so any of them may free a block from
/// another. Zero-size blocks are dangling and never reach the heap.
macro_rules! allocator_impls {
    ($Allocator:path, $AllocError:path) => {
        // SAFETY: see `allocator_impls!`.
        unsafe impl<L: RawLock, H: Heap> $Allocator for Locked<L, H> {
            allocator_methods!($AllocError);
        }

        // SAFETY: see `allocator_impls!`.
        unsafe impl<H: Heap> $Allocator for HeapCell<H> {
            allocator_methods!($AllocError);
        }

        // SAFETY: see `allocator_impls!`.
        unsafe impl<A: HeapAccess> $Allocator for InZone<'_, A>
        where
            A::Heap: ZonedHeap,
        {
            allocator_methods!($AllocError);
        }
    };
}

#[cfg(feature = "allocator-api2")]
mod api2 {
    use super::*;
    allocator_impls!(allocator_api2::alloc::Allocator, allocator_api2::alloc::AllocError);
}

#[cfg(bareheap_nightly)]
mod nightly {
    use super::*;
    allocator_impls!(core::alloc::Allocator, core::alloc::AllocError);
}
