//! AddressSanitizer hooks: the heaps mark their free space and allocation slack *poisoned*, so
//! that an instrumented program reading or writing it is reported, although the whole arena is
//! one valid object (a `static` or a `Vec`) as far as ASan itself knows.
//!
//! Active only when the crate is compiled with `--cfg bareheap_asan` (by `cargo xtask test`,
//! together with `-Zsanitizer=address`; the cfg without the sanitizer fails to link, since the
//! ASan runtime provides the two functions). Otherwise every function here is an empty
//! `#[inline(always)]` function and [`ACTIVE`] is `false`: no code, no cost, nothing in
//! firmware.
//!
//! # What the heaps poison
//!
//! - The part of a free block beyond the metadata the heap itself reads and writes while the
//!   block is free (its header, its list links and, for `Tlsf`, its footer) is poisoned when
//!   the block is filed in a free list. The whole block is unpoisoned when it leaves the list
//!   (allocation, merge, split, in-place growth), so every metadata write the heap makes is to
//!   unpoisoned memory.
//! - An allocation's payload `[ptr, ptr + size)` is unpoisoned exactly; the rest of its block
//!   (rounding slack, alignment slack) is poisoned. `grow`/`shrink` in place move that boundary.
//! - `Bump`: the unused tail of each region, alignment padding, and a reclaimed last block.
//! - `AtomicBump`: the same, and every freed block (reclaimed or not: it is dead either way),
//!   poisoned before the compare-and-swap that may hand its bytes to another allocation.
//!
//! # Granularity: what is and is not detected
//!
//! ASan keeps one shadow byte per aligned 8-byte *granule*: `0` means all 8 bytes are
//! addressable, `k` in `1..=7` means the first `k` are and the rest are not, a negative value
//! means none is. So a granule can be "addressable prefix, poisoned suffix", never "poisoned
//! prefix, addressable suffix". `__asan_poison_memory_region(a, n)` therefore poisons `[a, a+n)`
//! from `a` even in the middle of a granule (the granule keeps its addressable prefix), but a
//! last partial granule `[a+n rounded down to 8, a+n)` is poisoned only if the bytes after
//! `a+n` in it are already poisoned; it never poisons a byte outside the range.
//! `__asan_unpoison_memory_region(a, n)` unpoisons a superregion: from the start of `a`'s
//! granule to `a+n`. Consequences for the heaps:
//!
//! - On 64-bit hosts (`W = 8`, granule `G` = 16 or 8), block headers, links, footers and block
//!   boundaries are all 8-byte aligned: every byte of a free block's interior is poisoned, and
//!   the slack after `ptr + size` is poisoned from exactly `ptr + size` (a suffix), so a
//!   one-byte overflow past any allocation into its own slack or a neighbour's free space is
//!   reported (`use-after-poison`), as is any access to a freed block's payload while it is free.
//! - Not detected: an overflow into the *header* of the next block, or into a live neighbour's
//!   payload (both must stay addressable: the heap reads headers, the neighbour is live); a use
//!   after free once the memory has been allocated again (no quarantine); the header and list
//!   links of a free block (the heap's own metadata, the first two or three words of a freed
//!   payload are its header/links, so a stale read of them is not reported).
//! - On 32-bit hosts (`W = 4`), a block boundary may fall in the middle of a granule: up to 7
//!   bytes at the end of a poisoned range stay addressable, and unpoisoning a block may
//!   unpoison up to 4 bytes before it. Both only miss errors; there is never a false report.
//!
//! ASan names the error by the shadow value: an access to a fully poisoned granule is a
//! `use-after-poison`; one to the poisoned suffix of a partial granule (a one-byte overflow
//! past a size that is not a multiple of 8) is an `unknown-crash`, since a partial shadow value
//! does not record why the rest is unaddressable.
//!
//! Accesses from *uninstrumented* code (std's `memcpy` is intercepted and checked; inline
//! assembly is not) are not checked.

/// Whether poisoning is compiled in (`--cfg bareheap_asan`). Lets a call site skip the work
/// of computing a range (a header read) in normal builds.
pub(crate) const ACTIVE: bool = cfg!(bareheap_asan);

#[cfg(bareheap_asan)]
extern "C" {
    fn __asan_poison_memory_region(addr: *const u8, size: usize);
    fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
    fn __asan_address_is_poisoned(addr: *const u8) -> core::ffi::c_int;
    fn __asan_region_is_poisoned(addr: *const u8, size: usize) -> *const u8;
}

/// Marks `[ptr, ptr + len)` unaddressable for instrumented code (subject to the granularity
/// above). A no-op when `len` is 0 or poisoning is not compiled in.
///
/// # Safety
///
/// `[ptr, ptr + len)` lies in memory the heap owns (a claimed region) and that no live
/// allocation or metadata the heap still reads overlaps: poisoning it would make later
/// legitimate accesses reports. (It writes only ASan's shadow memory, never `ptr`'s bytes.)
#[inline(always)]
pub(crate) unsafe fn poison(ptr: *const u8, len: usize) {
    #[cfg(bareheap_asan)]
    if len != 0 {
        // SAFETY: the ASan runtime is linked (the cfg is only set with `-Zsanitizer=address`);
        // the range is the heap's own memory (caller contract).
        unsafe { __asan_poison_memory_region(ptr, len) };
    }
    let _ = (ptr, len);
}

/// Marks `[ptr, ptr + len)` addressable again (and possibly up to 7 bytes before it, see the
/// granularity above). A no-op when `len` is 0 or poisoning is not compiled in.
///
/// # Safety
///
/// `[ptr, ptr + len)` lies in memory the heap owns (a claimed region).
#[inline(always)]
pub(crate) unsafe fn unpoison(ptr: *const u8, len: usize) {
    #[cfg(bareheap_asan)]
    if len != 0 {
        // SAFETY: as in `poison`.
        unsafe { __asan_unpoison_memory_region(ptr, len) };
    }
    let _ = (ptr, len);
}

/// Whether the byte at `ptr` is poisoned: then it is free space or slack, never a used block's
/// header. Lets the cheap checks on free refuse such a pointer before reading it (a read would
/// be reported by ASan instead of going to the invalid-free hook). Always `false` when
/// poisoning is not compiled in.
#[inline(always)]
pub(crate) fn is_poisoned(ptr: *const u8) -> bool {
    #[cfg(bareheap_asan)]
    {
        // SAFETY: the ASan runtime is linked; the query reads only shadow memory, which
        // exists for every address of the process.
        unsafe { __asan_address_is_poisoned(ptr) != 0 }
    }
    #[cfg(not(bareheap_asan))]
    {
        let _ = ptr;
        false
    }
}

/// Whether any byte of `[ptr, ptr + len)` is poisoned: then a `len`-byte read there would be
/// reported. Lets a check that reads a word of possibly free memory (the `hardened` tier's
/// record and canary) refuse it instead. Always `false` when poisoning is not compiled in.
#[cfg(feature = "hardened")]
#[inline(always)]
pub(crate) fn range_is_poisoned(ptr: *const u8, len: usize) -> bool {
    #[cfg(bareheap_asan)]
    {
        // SAFETY: the ASan runtime is linked; the query reads only shadow memory, which
        // exists for every address of the process.
        unsafe { !__asan_region_is_poisoned(ptr, len).is_null() }
    }
    #[cfg(not(bareheap_asan))]
    {
        let _ = (ptr, len);
        false
    }
}
