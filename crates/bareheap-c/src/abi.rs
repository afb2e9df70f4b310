//! The C allocation functions over any [`GlobalAlloc`], with the block prefix described in
//! the [crate docs](crate).
//!
//! # Invariants
//!
//! - **CA1** A pointer `p` handed out is `block + offset(align)` where `block` was allocated
//!   from the allocator with `block_layout(size, align)`; the word at `p - 2 words` is `size`
//!   and the word at `p - 1 word` is `tag(p, size, align)`.
//! - **CA2** `align` is a power of two, at least [`MIN_ALIGN`].

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_int;
use core::ptr;

use crate::MIN_ALIGN;

/// `EINVAL` (Linux, newlib and picolibc agree).
pub const EINVAL: c_int = 22;
/// `ENOMEM` (Linux, newlib and picolibc agree).
pub const ENOMEM: c_int = 12;

const WORD: usize = size_of::<usize>();
const PREFIX: usize = 2 * WORD;
const TAG_MAGIC: usize = 0xb10c_5a1e_u32 as usize;

/// A pointer passed to `free`, `realloc` or `malloc_usable_size` did not carry a valid prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPointer;

fn tag(p: *mut u8, size: usize, align: usize) -> usize {
    align ^ p.addr() ^ size.rotate_left(WORD as u32 * 4) ^ TAG_MAGIC
}

/// Bytes from the heap block's start to the pointer handed out (CA1).
fn offset(align: usize) -> usize {
    align.max(MIN_ALIGN)
}

/// The layout of the heap block behind a `size`-byte block aligned to `align`; `None` on
/// overflow or an invalid alignment.
fn block_layout(size: usize, align: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(offset(align))?, align.max(MIN_ALIGN)).ok()
}

/// Reads and checks the prefix of `p`: `(size, align)`.
///
/// # Safety
///
/// `p` is non-null and the two words below it are readable (true for every pointer from this
/// module, CA1; a foreign pointer breaks this contract unless memory below it is readable).
unsafe fn prefix(p: *mut u8) -> Result<(usize, usize), InvalidPointer> {
    if p.addr() % MIN_ALIGN != 0 || p.addr() < PREFIX {
        return Err(InvalidPointer);
    }
    // SAFETY: caller contract; `p` is MIN_ALIGN-aligned, so both words are aligned.
    let size = unsafe { p.wrapping_sub(PREFIX).cast::<usize>().read() };
    // SAFETY: as above.
    let t = unsafe { p.wrapping_sub(WORD).cast::<usize>().read() };
    let align = t ^ p.addr() ^ size.rotate_left(WORD as u32 * 4) ^ TAG_MAGIC;
    // CA2, and the block must be describable by a layout.
    if !align.is_power_of_two() || align < MIN_ALIGN || block_layout(size, align).is_none() {
        return Err(InvalidPointer);
    }
    Ok((size, align))
}

/// Writes the prefix of `p` (CA1).
///
/// # Safety
///
/// The two words below `p` belong to the block `p` was carved from.
unsafe fn write_prefix(p: *mut u8, size: usize, align: usize) {
    // SAFETY: caller contract; `p` is at least MIN_ALIGN-aligned.
    unsafe { p.wrapping_sub(PREFIX).cast::<usize>().write(size) };
    // SAFETY: as above.
    unsafe { p.wrapping_sub(WORD).cast::<usize>().write(tag(p, size, align)) };
}

/// `aligned_alloc` without the alignment check: `align` is a power of two.
fn allocate<A: GlobalAlloc>(a: &A, size: usize, align: usize) -> *mut u8 {
    let Some(layout) = block_layout(size, align) else { return ptr::null_mut() };
    // SAFETY: `layout.size() >= offset > 0`.
    let block = unsafe { a.alloc(layout) };
    if block.is_null() {
        return block;
    }
    // SAFETY: `offset(align) + size == layout.size()`: inside the block.
    let p = unsafe { block.add(offset(align)) };
    // SAFETY: `offset >= PREFIX`, so the prefix lies inside the block.
    unsafe { write_prefix(p, size, align.max(MIN_ALIGN)) };
    p
}

/// C `malloc`: a `MIN_ALIGN`-aligned block, or null. `malloc(0)` is a unique block.
pub fn malloc<A: GlobalAlloc>(a: &A, size: usize) -> *mut u8 {
    allocate(a, size, MIN_ALIGN)
}

/// C `calloc`: zeroed, null if `nmemb * size` overflows.
pub fn calloc<A: GlobalAlloc>(a: &A, nmemb: usize, size: usize) -> *mut u8 {
    let Some(total) = nmemb.checked_mul(size) else { return ptr::null_mut() };
    let p = malloc(a, total);
    if !p.is_null() {
        // SAFETY: `p` is a fresh block of `total` bytes.
        unsafe { p.write_bytes(0, total) };
    }
    p
}

/// C `aligned_alloc`: null unless `align` is a power of two.
pub fn aligned_alloc<A: GlobalAlloc>(a: &A, align: usize, size: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    allocate(a, size, align)
}

/// POSIX `posix_memalign`, returning the block or `EINVAL`/`ENOMEM`.
///
/// # Errors
///
/// `EINVAL` unless `align` is a power of two multiple of the pointer size; `ENOMEM` when
/// the allocator fails.
pub fn posix_memalign<A: GlobalAlloc>(a: &A, align: usize, size: usize) -> Result<*mut u8, c_int> {
    if !align.is_power_of_two() || align % size_of::<*mut u8>() != 0 {
        return Err(EINVAL);
    }
    let p = allocate(a, size, align);
    if p.is_null() {
        Err(ENOMEM)
    } else {
        Ok(p)
    }
}

/// C `free`. Null is ignored.
///
/// # Errors
///
/// [`InvalidPointer`] (and nothing freed) when `p` carries no valid prefix.
///
/// # Safety
///
/// `p` is null or a live block from this module over `a`.
pub unsafe fn free<A: GlobalAlloc>(a: &A, p: *mut u8) -> Result<(), InvalidPointer> {
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: caller contract (CA1).
    let (size, align) = unsafe { prefix(p) }?;
    let layout = block_layout(size, align).ok_or(InvalidPointer)?;
    // SAFETY: CA1: the heap block starts `offset` bytes below `p`, allocated with `layout`.
    unsafe { a.dealloc(p.wrapping_sub(offset(align)), layout) };
    Ok(())
}

/// C `realloc`. Null `p` allocates; `size == 0` frees and returns null; on failure returns
/// null and `p` stays allocated.
///
/// # Errors
///
/// [`InvalidPointer`] (and nothing changed) when `p` carries no valid prefix.
///
/// # Safety
///
/// `p` is null or a live block from this module over `a`.
pub unsafe fn realloc<A: GlobalAlloc>(
    a: &A,
    p: *mut u8,
    size: usize,
) -> Result<*mut u8, InvalidPointer> {
    if p.is_null() {
        return Ok(malloc(a, size));
    }
    if size == 0 {
        // SAFETY: forwarded caller contract.
        unsafe { free(a, p) }?;
        return Ok(ptr::null_mut());
    }
    // SAFETY: caller contract (CA1).
    let (old_size, align) = unsafe { prefix(p) }?;
    let old = block_layout(old_size, align).ok_or(InvalidPointer)?;
    let Some(new) = block_layout(size, align) else { return Ok(ptr::null_mut()) };
    // SAFETY: CA1: the block was allocated with `old`; `new.size()` is a valid size for
    // `old.align()` (checked by `block_layout`).
    let block = unsafe { a.realloc(p.wrapping_sub(offset(align)), old, new.size()) };
    if block.is_null() {
        return Ok(ptr::null_mut());
    }
    // SAFETY: the new block is `offset + size` bytes with the old alignment.
    let q = unsafe { block.add(offset(align)) };
    // SAFETY: the prefix lies inside the new block (`offset >= PREFIX`).
    unsafe { write_prefix(q, size, align) };
    Ok(q)
}

/// `malloc_usable_size`: the size the block was requested with.
///
/// # Errors
///
/// [`InvalidPointer`] for null or a pointer without a valid prefix.
///
/// # Safety
///
/// `p` is null or a live block from this module.
pub unsafe fn usable_size(p: *mut u8) -> Result<usize, InvalidPointer> {
    if p.is_null() {
        return Err(InvalidPointer);
    }
    // SAFETY: caller contract.
    unsafe { prefix(p) }.map(|(size, _)| size)
}

#[cfg(test)]
mod tests;
