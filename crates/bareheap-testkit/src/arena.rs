//! Test arenas: owned, page-aligned buffers whose every byte not handed to a heap is a known
//! guard pattern, checked later (catalogue rows A1/A2: "zero bytes written outside").

use alloc::alloc::{alloc, dealloc, handle_alloc_error};
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ptr::NonNull;

use bareheap::{Region, RegionError};

/// Bytes of guard pattern before the data area (a page, so the data area is page-aligned).
pub const FRONT_GUARD: usize = 4096;
/// Bytes of guard pattern after the data area.
pub const BACK_GUARD: usize = 256;
/// Alignment of the data area.
pub const ARENA_ALIGN: usize = 4096;

/// The value of every guard byte. A constant, so filling and checking are `memset` and
/// `memcmp` (fast under Miri too).
pub const GUARD: u8 = 0xa5;

#[cfg(bareheap_asan)]
extern "C" {
    /// The ASan runtime's unpoison (the heaps poison free space under `cfg(bareheap_asan)`).
    #[link_name = "__asan_unpoison_memory_region"]
    fn asan_unpoison(addr: *const u8, size: usize);
    /// Whether the byte at `addr` is poisoned.
    #[link_name = "__asan_address_is_poisoned"]
    fn asan_is_poisoned(addr: *const u8) -> core::ffi::c_int;
}

/// A run of guard bytes to compare against.
static GUARD_RUN: [u8; 4096] = [GUARD; 4096];

/// An owned buffer of `len` data bytes, page-aligned, framed by guard bytes.
///
/// Until a range is [given](Arena::region) to a heap, every byte of the allocation holds the
/// guard pattern; [`Arena::check`] reports any byte outside the given ranges that changed.
///
/// # Invariants
///
/// - **AR1** `base` points to a live allocation of `FRONT_GUARD + len + BACK_GUARD` bytes
///   aligned to `ARENA_ALIGN`, owned by this arena and freed in `Drop`.
/// - **AR2** Every byte outside the `given` ranges was written only by `new`/`refill` (with the
///   guard pattern) or by a heap that broke its contract.
#[derive(Debug)]
pub struct Arena {
    base: NonNull<u8>,
    len: usize,
    /// Data-area ranges `(offset, len)` handed to a heap.
    given: Vec<(usize, usize)>,
}

impl Arena {
    /// A fresh arena with `len` data bytes, all guard pattern.
    pub fn new(len: usize) -> Self {
        let mut arena = Self::new_unchecked(len);
        arena.refill();
        arena
    }

    /// A fresh arena whose bytes are left uninitialized: cheaper, but [`Arena::check`] is
    /// meaningless on it (and would read uninitialized memory). For memory whose guards are
    /// not checked, such as the twin heaps of a pristine check.
    pub(crate) fn new_unchecked(len: usize) -> Self {
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size (the guards alone are > 0).
        let raw = unsafe { alloc(layout) };
        let Some(base) = NonNull::new(raw) else { handle_alloc_error(layout) };
        Arena { base, len, given: Vec::new() }
    }

    fn layout(len: usize) -> Layout {
        let total = FRONT_GUARD
            .checked_add(len)
            .and_then(|t| t.checked_add(BACK_GUARD))
            .expect("arena size overflows");
        Layout::from_size_align(total, ARENA_ALIGN).expect("arena size overflows isize")
    }

    fn total(&self) -> usize {
        FRONT_GUARD + self.len + BACK_GUARD
    }

    /// Writes the guard pattern over the whole allocation again and forgets every given range.
    ///
    /// Only call this when no heap uses the arena any more (the borrow checker cannot see the
    /// heap's raw pointers; the heap's memory is overwritten).
    pub fn refill(&mut self) {
        // A heap built with `--cfg bareheap_asan` poisoned its free space; it is ours again.
        #[cfg(bareheap_asan)]
        // SAFETY: AR1: the allocation is ours; this only writes ASan's shadow memory.
        unsafe {
            asan_unpoison(self.base.as_ptr(), self.total())
        };
        // SAFETY: AR1: the allocation is `total()` bytes and we own it; `&mut self` excludes
        // other users of the arena itself, and the caller promised no heap uses it any more.
        unsafe { self.base.as_ptr().write_bytes(GUARD, self.total()) };
        self.given.clear();
    }

    /// The number of data bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the data area is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first data byte (page-aligned). Has the provenance of the whole allocation.
    pub fn data(&self) -> NonNull<u8> {
        // SAFETY: AR1: `FRONT_GUARD` is inside the allocation (or one past its end if
        // `len == 0 && BACK_GUARD == 0`, which cannot happen).
        unsafe { self.base.add(FRONT_GUARD) }
    }

    /// A copy of the data area, to compare before and after a call that must not write.
    ///
    /// With `--cfg bareheap_asan` the bytes a heap poisoned (free space, slack) read as 0
    /// instead of tripping a report: a heap write to them is reported by ASan itself.
    ///
    /// Only call this while no heap call is running on the arena.
    pub fn snapshot(&self) -> Vec<u8> {
        let p = self.data().as_ptr().cast_const();
        #[cfg(bareheap_asan)]
        {
            (0..self.len)
                .map(|i| {
                    let q = p.wrapping_add(i);
                    // SAFETY: AR1: `q` is a data byte of our allocation, initialised; the
                    // query reads only ASan's shadow, and an unpoisoned byte may be read.
                    unsafe {
                        if asan_is_poisoned(q) != 0 {
                            0
                        } else {
                            q.read()
                        }
                    }
                })
                .collect()
        }
        #[cfg(not(bareheap_asan))]
        // SAFETY: AR1: the data area is `len` initialised bytes of our allocation; the caller
        // runs no heap call on it meanwhile.
        unsafe {
            core::slice::from_raw_parts(p, self.len).to_vec()
        }
    }

    /// The data-area ranges given so far, as `(offset, len)`.
    pub fn given(&self) -> &[(usize, usize)] {
        &self.given
    }

    /// Builds a [`Region`] over data bytes `[offset, offset + len)` and records it as given.
    ///
    /// The region is recorded even if a heap later refuses it: call [`Arena::ungive`] then, so
    /// [`Arena::check`] verifies that the refused bytes were not written.
    ///
    /// # Errors
    ///
    /// What [`Region::new`] says (e.g. `TooSmall` for `len == 0`); then nothing is recorded.
    ///
    /// # Panics
    ///
    /// If the range is not inside the data area or overlaps a range already given.
    ///
    /// # Safety
    ///
    /// The arena must outlive every use of the region by a heap (drop or stop using the heap
    /// before the arena), and [`Arena::refill`] must not run while a heap uses it.
    pub unsafe fn region(&mut self, offset: usize, len: usize) -> Result<Region, RegionError> {
        let end = offset.checked_add(len).expect("range overflows");
        assert!(end <= self.len, "range [{offset}, {end}) is outside the {}-byte arena", self.len);
        for &(o, l) in &self.given {
            assert!(end <= o || o + l <= offset, "range [{offset}, {end}) given twice");
        }
        // SAFETY: AR1: `offset <= len`, so the pointer stays inside the allocation (or one past
        // the data area, which is inside the back guard).
        let base = unsafe { self.data().add(offset) };
        // SAFETY: the bytes are inside our allocation (checked above) and not given to anything
        // else (checked above); the caller keeps the arena alive while the heap uses them.
        let region = unsafe { Region::new(base.as_ptr(), len) }?;
        self.given.push((offset, len));
        Ok(region)
    }

    /// Forgets the given range that starts at data offset `offset` (a heap refused it), so
    /// [`Arena::check`] expects its guard pattern again.
    pub fn ungive(&mut self, offset: usize) {
        self.given.retain(|&(o, _)| o != offset);
    }

    /// Panics unless every byte outside the given ranges still holds the guard pattern.
    ///
    /// The message names the first changed byte by its offset from the data area (negative:
    /// in the front guard).
    pub fn check(&self) {
        if let Some(off) = self.first_changed() {
            panic!(
                "guard byte changed: data offset {off} of a {}-byte arena (given ranges {:?}): \
                 a heap wrote outside the memory it was given",
                self.len, self.given
            );
        }
    }

    /// The data offset of the first byte outside the given ranges that is not the guard
    /// pattern, if any.
    pub fn first_changed(&self) -> Option<isize> {
        let mut given = self.given.clone();
        given.sort_unstable();
        let mut ranges = Vec::with_capacity(given.len() + 1);
        let mut at = 0;
        for (o, l) in given {
            ranges.push((at, FRONT_GUARD + o));
            at = FRONT_GUARD + o + l;
        }
        ranges.push((at, self.total()));
        for (start, end) in ranges {
            // SAFETY: AR1: `[start, end)` is inside the allocation; these bytes are not given to
            // any heap (AR2), so no heap pointer is used to access them while we read.
            let bytes = unsafe {
                core::slice::from_raw_parts(self.base.as_ptr().add(start).cast_const(), end - start)
            };
            for (k, run) in bytes.chunks(GUARD_RUN.len()).enumerate() {
                if run != &GUARD_RUN[..run.len()] {
                    let j = run.iter().position(|&b| b != GUARD).unwrap_or(0);
                    let at = start + k * GUARD_RUN.len() + j;
                    return Some(at as isize - FRONT_GUARD as isize);
                }
            }
        }
        None
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: AR1: allocated in `new` with exactly this layout, freed once here.
        unsafe { dealloc(self.base.as_ptr(), Self::layout(self.len)) }
    }
}
