//! The core trait every heap implements, and the vocabulary of its contracts.
//!
//! # Terms
//!
//! - A block is **currently allocated** by a heap `h` if it was returned by `h.allocate`,
//!   `h.grow` or `h.shrink` and has not since been passed to `h.deallocate`, `h.grow` or
//!   `h.shrink` (a successful `grow`/`shrink` ends the old block's life; a failed one does not).
//! - A layout **fits** a currently allocated block if its alignment is the one the block was
//!   requested with and its size is the one most recently requested for it (as for
//!   [`core::alloc::Allocator`]).

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::Region;

/// A memory allocator that manages memory it has been given, accessed through `&mut self`.
///
/// Heaps have no interior mutability and no locking; wrap one in [`Locked`](crate::Locked) to
/// share it (and to use it as a `#[global_allocator]`).
///
/// # Safety
///
/// Implementors guarantee that a block returned by [`allocate`](Heap::allocate),
/// [`grow`](Heap::grow) or [`shrink`](Heap::shrink):
/// - is valid for reads and writes of the requested size and aligned to `layout.align()`,
/// - does not overlap any other block currently allocated from `self`,
/// - stays valid until it stops being currently allocated or `self` is dropped.
///
/// No method panics or unwinds for any argument (they back `GlobalAlloc`, where unwinding is
/// undefined behaviour). Failure is `None`.
pub unsafe trait Heap {
    /// Allocates a block that fits `layout`, or returns `None`.
    ///
    /// A zero-size request gets a unique minimal block (it must be deallocated like any other).
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>>;

    /// Returns a block to the heap.
    ///
    /// # Safety
    ///
    /// - `ptr` must denote a block currently allocated by `self`, and
    /// - `layout` must fit that block.
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout);

    /// Grows a block to `new_size` bytes, keeping its contents and alignment; in place where
    /// the heap can, otherwise by moving it. On `None` the old block is untouched and still
    /// currently allocated.
    ///
    /// The default implementation always moves.
    ///
    /// # Safety
    ///
    /// - `ptr` must denote a block currently allocated by `self`,
    /// - `old` must fit that block, and
    /// - `new_size >= old.size()`.
    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { move_block(self, ptr, old, new_size) }
    }

    /// Shrinks a block to `new_size` bytes, keeping the first `new_size` bytes and the
    /// alignment. On `None` the old block is untouched and still currently allocated.
    ///
    /// The default implementation always moves.
    ///
    /// # Safety
    ///
    /// - `ptr` must denote a block currently allocated by `self`,
    /// - `old` must fit that block, and
    /// - `new_size <= old.size()`.
    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { move_block(self, ptr, old, new_size) }
    }

    /// Walks the heap's metadata and reports the first inconsistency found.
    ///
    /// # Errors
    ///
    /// [`Corruption`] with what was wrong and where.
    fn validate(&self) -> Result<(), Corruption>;
}

/// A heap that accepts donated memory.
pub trait Claim {
    /// Gives `region` to the heap. Returns the number of bytes that became allocatable
    /// (after alignment and metadata).
    ///
    /// # Errors
    ///
    /// A [`RegionError`](crate::RegionError) says why the region was refused; then nothing was
    /// written to it and the heap is unchanged.
    fn claim(&mut self, region: Region) -> Result<usize, crate::RegionError>;
}

/// Moves a block to a fresh allocation of `new_size` bytes: allocate, copy
/// `min(old.size(), new_size)` bytes, free the old block.
///
/// # Safety
///
/// `ptr` must denote a block currently allocated by `heap`, and `old` must fit it.
pub unsafe fn move_block<H: Heap + ?Sized>(
    heap: &mut H,
    ptr: NonNull<u8>,
    old: Layout,
    new_size: usize,
) -> Option<NonNull<u8>> {
    let new_layout = Layout::from_size_align(new_size, old.align()).ok()?;
    let new = heap.allocate(new_layout)?;
    // SAFETY: both blocks are currently allocated from `heap`, so they do not overlap; the old
    // one is valid for `old.size()` bytes and the new one for `new_size` bytes.
    unsafe { core::ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), old.size().min(new_size)) };
    // SAFETY: caller contract: `ptr` is currently allocated and `old` fits it.
    unsafe { heap.deallocate(ptr, old) };
    Some(new)
}

/// What [`Heap::validate`] found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The violated invariant, e.g. `"FF2: adjacent free blocks"`.
    pub what: &'static str,
    /// The address where it was found.
    pub addr: usize,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "heap corruption at {:#x}: {}", self.addr, self.what)
    }
}

impl core::error::Error for Corruption {}
