//! The address arithmetic of [`FirstFit`](super::FirstFit): pure, safe and checked, so it can be
//! tested exhaustively without touching memory.
//!
//! Every function returns `None` instead of overflowing.

use core::alloc::Layout;
use core::mem::size_of;

/// Bytes in a machine word.
pub(super) const WORD: usize = size_of::<usize>();

/// Payload alignment and size unit: two words (8 bytes on 32-bit, 16 on 64-bit).
pub(super) const GRANULE: usize = 2 * WORD;

/// Bytes in front of every payload: one word holding the block size and flags.
pub(super) const HEADER: usize = WORD;

/// The smallest block: a header plus the `next` link a free block keeps in its payload.
pub(super) const MIN_BLOCK: usize = GRANULE;

/// Bytes of a region's end record: marker header, region start, region end, next record.
pub(super) const RECORD: usize = 4 * WORD;

/// `addr` rounded down to a multiple of `GRANULE`.
const fn granule_floor(addr: usize) -> usize {
    addr & !(GRANULE - 1)
}

/// The size of the block (header included) that holds `size` payload bytes at an alignment of
/// at most [`GRANULE`]: `size + HEADER` rounded up to a multiple of `GRANULE`. Never less than
/// [`MIN_BLOCK`], so a zero-size request gets a unique block.
pub(super) const fn block_size(size: usize) -> Option<usize> {
    match size.checked_add(HEADER + GRANULE - 1) {
        Some(n) => Some(granule_floor(n)),
        None => None,
    }
}

/// The first block start at or above `start`: the lowest address `≡ HEADER (mod GRANULE)`, so
/// that the payload behind the header is granule-aligned.
pub(super) const fn first_block(start: usize) -> Option<usize> {
    match start.checked_add(HEADER + GRANULE - 1) {
        Some(n) => Some(granule_floor(n) - HEADER),
        None => None,
    }
}

/// Where the end record of a region ending at `end` goes: the highest address
/// `≡ HEADER (mod GRANULE)` that leaves [`RECORD`] bytes before `end`.
pub(super) const fn end_record(end: usize) -> Option<usize> {
    match end.checked_sub(RECORD + HEADER) {
        Some(t) => Some(granule_floor(t) + HEADER),
        None => None,
    }
}

/// The first block and the end record of the region `[start, end)`, if at least one
/// [`MIN_BLOCK`] fits between them.
pub(super) const fn region_layout(start: usize, end: usize) -> Option<(usize, usize)> {
    let (Some(first), Some(record)) = (first_block(start), end_record(end)) else {
        return None;
    };
    match first.checked_add(MIN_BLOCK) {
        Some(min_end) if min_end <= record => Some((first, record)),
        _ => None,
    }
}

/// The region length that guarantees one allocation of `layout` succeeds in an otherwise empty
/// heap, whatever the region's base address: worst-case alignment of the first block (or of
/// the payload, for alignments above [`GRANULE`]), the block, and the end record.
///
/// Cannot overflow: a `Layout` keeps `size + align − 1 <= isize::MAX`, and the rest is a few
/// words. The additions saturate anyway.
pub(super) const fn region_size_for(layout: Layout) -> usize {
    let align = if layout.align() > GRANULE { layout.align() } else { GRANULE };
    let block = granule_floor(layout.size().saturating_add(HEADER + GRANULE - 1));
    block.saturating_add(align - 1).saturating_add(RECORD)
}

/// The least region length that [`FirstFit`](super::FirstFit) accepts at every base address.
pub(super) const MIN_REGION: usize = (GRANULE - 1) + MIN_BLOCK + RECORD;

const _: () = {
    assert!(GRANULE.is_power_of_two());
    assert!(MIN_BLOCK >= HEADER + WORD, "a free block must hold its header and its link");
    assert!(RECORD % WORD == 0);
    // The flags live below the granule; `USED | END` needs two bits.
    assert!(GRANULE >= 4);
};
