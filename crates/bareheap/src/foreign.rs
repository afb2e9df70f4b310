//! A heap that forwards to an allocator written in another language: `kmalloc`/`kfree` in a
//! kernel, `malloc`/`free` of a C library, a vendor SDK's `pvPortMalloc`.
//!
//! [`Foreign<F>`](Foreign) turns the two C functions that [`ForeignAlloc`] declares into a
//! [`Heap`], so that everything built on heaps (a [`Slab`](crate::Slab) front, a
//! [`Locked`](crate::Locked) global allocator) runs on memory that the foreign side owns.
//!
//! Foreign allocators promise a fixed alignment (`kmalloc`: 8 bytes on many architectures;
//! `malloc`: `alignof(max_align_t)`), but a Rust [`Layout`] may ask for any power of two. An
//! over-aligned request is served by over-allocating and keeping the foreign pointer just below
//! the block handed out:
//!
//! ```text
//!  raw = alloc(size + 2 words + align - 1)
//!  |  padding  | raw | tag |  block (size bytes, aligned to `align`)  |  unused  |
//!  +-----------+-----+-----+------------------------------------------+----------+
//!                           ^ returned; `raw` and `tag = raw ^ block ^ MAGIC` are the two
//!                             words below it, read back (and checked) by `deallocate`
//! ```
//!
//! Every size computation is checked, so a huge size or alignment (or one that is not a
//! multiple of the foreign alignment) yields `None`, never a wrapped request: the bug the
//! kernel-roulette allocator and early Rust-for-Linux bindings had.
//!
//! # Properties
//!
//! - Time: one foreign call per operation, plus O(1) arithmetic.
//! - Overhead: none for `align <= F::ALIGN` (or when the foreign side has a native aligned
//!   allocation, [`ForeignAlloc::ALIGNED`]); otherwise `2 * size_of::<usize>() + align - 1`
//!   bytes per block.
//! - Flags: a flags word (e.g. `GFP_KERNEL`) is kept per heap ([`Foreign::new`],
//!   [`Foreign::set_flags`]) and can be overridden per call ([`Foreign::allocate_with`], for
//!   `GFP_ATOMIC`-style contexts).
//!
//! # Drawbacks
//!
//! - `grow`/`shrink` always move (the trait has no `realloc`).
//! - Detection is limited to what the foreign side does, plus the tag of over-aligned blocks
//!   and a count of live blocks: a free with no live block, or of an over-aligned block whose
//!   tag does not match, is ignored and counted ([`Foreign::invalid_frees`]).
//! - `validate` has no metadata of its own to walk; it asks the foreign side
//!   ([`ForeignAlloc::validate`]).
//!
//! # Invariants
//!
//! - **FO1** A block with `layout.align() <= F::ALIGN` (or any block when `F::ALIGNED`) is the
//!   pointer the foreign side returned.
//! - **FO2** Any other block `p` lies inside a foreign allocation `raw` with
//!   `raw + 2 words <= p`, `p + size <= raw + requested`; the words at `p - 2 words` hold `raw`
//!   (with its provenance) and `raw ^ p ^ FOREIGN_MAGIC`.
//! - **FO3** `live` counts the blocks handed out and not freed.
//!
//! # Examples
//!
//! A kernel-style binding (the C side here is simulated with Rust's own allocator):
//!
//! ```
//! use core::alloc::Layout;
//! use bareheap::foreign::{Foreign, ForeignAlloc};
//! use bareheap::Heap;
//!
//! const GFP_KERNEL: u32 = 0xcc0;
//! const GFP_ATOMIC: u32 = 0x820;
//!
//! struct Kmalloc;
//! // SAFETY: `alloc` returns null or a block of `size` bytes aligned to 8, valid until `free`.
//! unsafe impl ForeignAlloc for Kmalloc {
//!     const ALIGN: usize = 8;
//!     type Flags = u32;
//!     unsafe fn alloc(size: usize, _flags: u32) -> *mut u8 {
//!         // In a kernel: `kmalloc(size, flags)`.
//!         // SAFETY: `size > 0` (Foreign never asks for 0 bytes).
//!         unsafe { std::alloc::alloc(Layout::from_size_align(size + 8, 8).unwrap()) }
//!     }
//!     unsafe fn free(_ptr: *mut u8) {
//!         // In a kernel: `kfree(ptr)`. (This simulation leaks.)
//!     }
//! }
//!
//! let mut heap: Foreign<Kmalloc> = Foreign::new(GFP_KERNEL);
//! let page = Layout::from_size_align(100, 4096).unwrap();
//! let p = heap.allocate(page).unwrap();
//! assert_eq!(p.as_ptr() as usize % 4096, 0, "aligned although kmalloc promises 8");
//! let q = heap.allocate_with(Layout::new::<u64>(), GFP_ATOMIC).unwrap();
//! // SAFETY: both blocks were allocated by `heap` with these layouts.
//! unsafe {
//!     heap.deallocate(p, page);
//!     heap.deallocate(q, Layout::new::<u64>());
//! }
//! assert_eq!(heap.live(), 0);
//! ```

use core::alloc::Layout;
use core::fmt;
use core::ptr::{self, NonNull};

use crate::fault::{self, FaultKind, HeapKind};
use crate::heap::{Corruption, Heap};

#[cfg(test)]
mod tests;

/// Tag mixed into the word below an over-aligned block (FO2).
const FOREIGN_MAGIC: usize = 0xf0e1_6a11_u32 as usize;
/// Two words below an over-aligned block: the foreign pointer and its tag.
const PREFIX: usize = 2 * size_of::<usize>();

/// The functions of a foreign allocator.
///
/// The functions are associated functions (no `self`), as C allocators are global: implement
/// the trait on a marker type.
///
/// # Safety
///
/// Implementors guarantee that:
/// - [`alloc`](ForeignAlloc::alloc) returns null or a pointer to at least `size` bytes, valid
///   for reads and writes, aligned to [`ALIGN`](ForeignAlloc::ALIGN), not overlapping any other
///   live block, and valid until passed to [`free`](ForeignAlloc::free);
/// - if [`ALIGNED`](ForeignAlloc::ALIGNED) is true, [`alloc_aligned`](ForeignAlloc::alloc_aligned)
///   returns the same for any power-of-two `align`, and `free` accepts its blocks;
/// - `ALIGN` is a power of two;
/// - no function unwinds.
pub unsafe trait ForeignAlloc {
    /// The alignment of every block `alloc` returns (a power of two).
    const ALIGN: usize;
    /// Whether [`alloc_aligned`](ForeignAlloc::alloc_aligned) is available.
    const ALIGNED: bool = false;
    /// The flags word passed with each allocation (e.g. `gfp_t`); `()` if there is none.
    type Flags: Copy;

    /// Allocates `size` bytes.
    ///
    /// # Safety
    ///
    /// `size > 0` (callers never ask for zero bytes) and `flags` is valid for the calling
    /// context (e.g. no sleeping allocation in an atomic context).
    unsafe fn alloc(size: usize, flags: Self::Flags) -> *mut u8;

    /// Allocates `size` bytes aligned to `align`; only called when `ALIGNED` is true.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](ForeignAlloc::alloc); `align` is a power of two greater than `ALIGN`.
    unsafe fn alloc_aligned(size: usize, align: usize, flags: Self::Flags) -> *mut u8 {
        let _ = (size, align, flags);
        ptr::null_mut()
    }

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by `alloc` or `alloc_aligned` and not freed since.
    unsafe fn free(ptr: *mut u8);

    /// Checks the foreign heap's metadata, if the foreign side can. The default has nothing
    /// to check.
    ///
    /// # Errors
    ///
    /// A [`Corruption`] describing what the foreign side found.
    fn validate() -> Result<(), Corruption> {
        Ok(())
    }
}

/// A [`Heap`] over a [`ForeignAlloc`] (see the [module docs](self)).
pub struct Foreign<F: ForeignAlloc> {
    flags: F::Flags,
    live: usize,
    invalid_frees: usize,
}

impl<F: ForeignAlloc> Foreign<F> {
    const VALID: () =
        assert!(F::ALIGN.is_power_of_two(), "ForeignAlloc::ALIGN must be a power of two");

    /// A heap that passes `flags` with every allocation.
    pub const fn new(flags: F::Flags) -> Self {
        let () = Self::VALID;
        Foreign { flags, live: 0, invalid_frees: 0 }
    }

    /// The flags passed with allocations that do not name their own.
    pub fn flags(&self) -> F::Flags {
        self.flags
    }

    /// Changes the default flags (e.g. when entering an atomic context).
    pub fn set_flags(&mut self, flags: F::Flags) {
        self.flags = flags;
    }

    /// Blocks allocated and not yet freed.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Frees that were refused (see Drawbacks in the [module docs](self)).
    pub fn invalid_frees(&self) -> usize {
        self.invalid_frees
    }

    /// Allocates with `flags` instead of the heap's default flags.
    ///
    /// # Time complexity
    ///
    /// One foreign call.
    pub fn allocate_with(&mut self, layout: Layout, flags: F::Flags) -> Option<NonNull<u8>> {
        let size = layout.size().max(1);
        let align = layout.align();
        let p = if align <= F::ALIGN {
            // SAFETY: `size > 0`; the flags are the caller's choice for its context.
            NonNull::new(unsafe { F::alloc(size, flags) })?
        } else if F::ALIGNED {
            // SAFETY: `size > 0`, `align` is a power of two above `F::ALIGN`.
            NonNull::new(unsafe { F::alloc_aligned(size, align, flags) })?
        } else {
            self.allocate_padded(size, align, flags)?
        };
        self.live += 1;
        Some(p)
    }

    /// Over-allocates and aligns inside the foreign block (FO2).
    fn allocate_padded(
        &mut self,
        size: usize,
        align: usize,
        flags: F::Flags,
    ) -> Option<NonNull<u8>> {
        let total = size.checked_add(PREFIX)?.checked_add(align - 1)?;
        if total > isize::MAX as usize {
            return None;
        }
        // SAFETY: `total > 0`.
        let raw = NonNull::new(unsafe { F::alloc(total, flags) })?;
        let start = raw.as_ptr().addr().checked_add(PREFIX)?;
        let Some(aligned) = start.checked_next_multiple_of(align) else {
            // SAFETY: `raw` was just returned by `alloc`.
            unsafe { F::free(raw.as_ptr()) };
            return None;
        };
        // `aligned - raw <= PREFIX + align - 1`, so the block ends inside the `total` bytes.
        let offset = aligned - raw.as_ptr().addr();
        // SAFETY: `offset + size <= total`: the block lies inside the foreign allocation.
        let block = unsafe { raw.add(offset) };
        // SAFETY: `offset >= PREFIX`, so both words below `block` are inside the allocation;
        // they may be unaligned when `F::ALIGN` is below the word size.
        unsafe { block.as_ptr().sub(PREFIX).cast::<*mut u8>().write_unaligned(raw.as_ptr()) };
        let tag = raw.as_ptr().addr() ^ aligned ^ FOREIGN_MAGIC;
        // SAFETY: as above, the second word below `block`.
        unsafe { block.as_ptr().sub(size_of::<usize>()).cast::<usize>().write_unaligned(tag) };
        Some(block)
    }

    /// A refused free: counted here, then passed to the program's [fault
    /// handler](crate::fault).
    #[cold]
    fn invalid_free(&mut self, ptr: NonNull<u8>, kind: FaultKind) {
        self.invalid_frees = self.invalid_frees.saturating_add(1);
        fault::report(HeapKind::Foreign, kind, ptr.as_ptr().addr());
    }
}

impl<F: ForeignAlloc> fmt::Debug for Foreign<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Foreign")
            .field("live", &self.live)
            .field("invalid_frees", &self.invalid_frees)
            .finish()
    }
}

// SAFETY: `Foreign` holds no pointers; the foreign side owns every block.
unsafe impl<F: ForeignAlloc> Send for Foreign<F> where F::Flags: Send {}

// SAFETY: blocks are foreign blocks (FO1) or aligned sub-blocks of foreign blocks that are
// large enough (FO2); the `ForeignAlloc` contract makes them valid and disjoint until freed.
// Nothing panics: every size computation is checked.
unsafe impl<F: ForeignAlloc> Heap for Foreign<F> {
    /// Allocates with the heap's default flags.
    ///
    /// # Time complexity
    ///
    /// One foreign call.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.allocate_with(layout, self.flags)
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if self.live == 0 {
            return self.invalid_free(ptr, FaultKind::NotAllocated);
        }
        if layout.align() <= F::ALIGN || F::ALIGNED {
            // SAFETY: FO1: `ptr` is the foreign pointer (caller contract: allocated by `self`
            // with a layout that fits).
            unsafe { F::free(ptr.as_ptr()) };
        } else {
            let p = ptr.as_ptr();
            // SAFETY: FO2: the two words below an over-aligned block are ours.
            let raw = unsafe { p.wrapping_sub(PREFIX).cast::<*mut u8>().read_unaligned() };
            // SAFETY: as above.
            let tag =
                unsafe { p.wrapping_sub(size_of::<usize>()).cast::<usize>().read_unaligned() };
            let dist = p.addr().wrapping_sub(raw.addr());
            if tag != raw.addr() ^ p.addr() ^ FOREIGN_MAGIC
                || dist < PREFIX
                || dist >= PREFIX + layout.align()
            {
                return self.invalid_free(ptr, FaultKind::BadHeader);
            }
            // SAFETY: the tag confirms `raw` is the foreign pointer stored by `allocate_padded`.
            unsafe { F::free(raw) };
        }
        self.live -= 1;
    }

    /// Asks the foreign side to check its heap ([`ForeignAlloc::validate`]).
    fn validate(&self) -> Result<(), Corruption> {
        F::validate()
    }
}
