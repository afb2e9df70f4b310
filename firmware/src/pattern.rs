//! Byte patterns that tell blocks apart: every live block is filled with a pattern derived from
//! its own tag, so a heap that hands out overlapping memory, or writes metadata into a live
//! block, is caught when the block is checked.

use core::ptr::NonNull;

/// The byte at offset `i` of a block tagged `tag`. Neighbouring bytes and blocks differ.
pub fn byte(tag: u32, i: usize) -> u8 {
    let x = (i as u32).wrapping_mul(0x0100_0193) ^ tag.wrapping_mul(0x9E37_79B9);
    (x ^ (x >> 11) ^ (x >> 23)) as u8
}

/// Fills `len` bytes at `ptr` with the pattern of `tag`.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes.
pub unsafe fn fill(ptr: NonNull<u8>, len: usize, tag: u32) {
    for i in 0..len {
        // SAFETY: `i < len` and the caller guarantees `len` writable bytes at `ptr`.
        unsafe { ptr.as_ptr().add(i).write_volatile(byte(tag, i)) };
    }
}

/// Checks the first `len` bytes at `ptr` against the pattern of `tag`; returns the offset of the
/// first wrong byte.
///
/// # Errors
///
/// The offset of the first byte that differs from the pattern.
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` initialised bytes.
pub unsafe fn check(ptr: NonNull<u8>, len: usize, tag: u32) -> Result<(), usize> {
    for i in 0..len {
        // SAFETY: `i < len` and the caller guarantees `len` readable bytes at `ptr`.
        let got = unsafe { ptr.as_ptr().add(i).read_volatile() };
        if got != byte(tag, i) {
            return Err(i);
        }
    }
    Ok(())
}
