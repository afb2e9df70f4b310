//! [`Region`]: the one gate through which donated memory enters a heap.
//!
//! Every heap in this crate receives memory only as a `Region`. Constructing one checks the
//! things that went wrong in the field (linked_list_allocator's RUSTSEC-2022-0063, buddy's
//! overflowing `start + size`): a null base, a range that wraps around the address space, an
//! empty range. [`Region::align_to`] then trims the range to what a heap can use and rejects it
//! when too little remains. None of these checks writes a byte.
//!
//! A `Region` is neither `Copy` nor `Clone`: handing it to a heap moves it, so the same checked
//! value cannot be claimed twice.

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

/// Why memory was refused by [`Region`] or by a heap's `claim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionError {
    /// The base pointer is null.
    Null,
    /// `base + len` overflows the address space.
    WrapsAround,
    /// After alignment, fewer bytes remain than the heap needs for its metadata and one block.
    TooSmall {
        /// The least number of usable bytes the heap would have accepted.
        min: usize,
    },
    /// The region overlaps memory the heap already manages.
    Overlap,
    /// The heap takes only one region and already has one.
    AlreadyClaimed,
    /// The heap is busy: the claim was attempted from inside its own lock (re-entry).
    Busy,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::Null => f.write_str("region base is null"),
            RegionError::WrapsAround => f.write_str("region wraps around the address space"),
            RegionError::TooSmall { min } => {
                write!(f, "region too small: at least {min} usable bytes are needed")
            }
            RegionError::Overlap => f.write_str("region overlaps memory the heap already manages"),
            RegionError::AlreadyClaimed => f.write_str("heap already has its region"),
            RegionError::Busy => f.write_str("heap is locked by the calling context"),
        }
    }
}

impl core::error::Error for RegionError {}

/// A checked range of memory donated to a heap: non-null, not wrapping, owned.
///
/// # Invariants
///
/// - **R1** `base` is non-null and `base.addr() + len` does not overflow `usize`.
/// - **R2** The caller that created the region gave up every other access to the bytes
///   `[base, base + len)` for as long as a heap may use them (the `unsafe` contract of
///   [`Region::new`], or the `&'static mut` borrow of [`Region::from_static`]).
/// - **R3** If [`may_merge`](Region::may_merge) is true, a heap may join this region with a
///   touching region that also may merge, and hand out blocks that span both (the contract of
///   [`Region::new`]). Regions from [`Region::from_static`] and [`HeapMemory::take`] are
///   separate Rust objects: pointer arithmetic from one into the other would be undefined
///   behaviour, so they never merge, even when the linker places them back to back.
///
/// # Examples
///
/// ```
/// use core::mem::MaybeUninit;
/// use bareheap::Region;
///
/// let mem: &'static mut [MaybeUninit<u8>] = Box::leak(Box::new([MaybeUninit::uninit(); 256]));
/// let region = Region::from_static(mem).unwrap();
/// assert_eq!(region.len(), 256);
/// let trimmed = region.align_to(16, 64).unwrap();
/// assert_eq!(trimmed.base().as_ptr() as usize % 16, 0);
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Region {
    base: NonNull<u8>,
    len: usize,
    may_merge: bool,
}

// SAFETY: a `Region` is an exclusive claim on its bytes (R2); moving it to another thread moves
// that claim, exactly like sending a `&'static mut [u8]`.
unsafe impl Send for Region {}

impl Region {
    /// Checks a raw range and turns it into a `Region`.
    ///
    /// # Errors
    ///
    /// [`RegionError::Null`] for a null `base`, [`RegionError::WrapsAround`] when
    /// `base + len` overflows, [`RegionError::TooSmall`] when `len` is zero.
    ///
    /// # Safety
    ///
    /// If this returns `Ok`, the bytes `[base, base + len)` must be valid for reads and writes
    /// for as long as any heap uses the region (in practice: forever, for a global allocator),
    /// and nothing else may access them during that time. Regions handed to the same heap must
    /// not overlap unless that heap documents that it detects overlap. Regions handed to the
    /// same heap that touch may be merged into one range (R3): they must then be parts of one
    /// allocation, or memory outside any Rust object (e.g. RAM bounds from linker symbols).
    pub unsafe fn new(base: *mut u8, len: usize) -> Result<Self, RegionError> {
        let base = NonNull::new(base).ok_or(RegionError::Null)?;
        if len == 0 {
            return Err(RegionError::TooSmall { min: 1 });
        }
        base.as_ptr().addr().checked_add(len).ok_or(RegionError::WrapsAround)?;
        Ok(Region { base, len, may_merge: true })
    }

    /// Turns a `'static` buffer into a region: the safe path for firmware.
    ///
    /// # Errors
    ///
    /// [`RegionError::TooSmall`] for an empty slice.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// let buf: &'static mut [MaybeUninit<u8>] = Box::leak(Box::new([MaybeUninit::uninit(); 64]));
    /// assert!(bareheap::Region::from_static(buf).is_ok());
    /// ```
    pub fn from_static(mem: &'static mut [MaybeUninit<u8>]) -> Result<Self, RegionError> {
        let len = mem.len();
        // SAFETY: the `'static mut` borrow is exclusive forever and the slice is valid memory,
        // which is exactly `new`'s contract (R2); a slice never wraps the address space. The
        // merge clause does not apply: the region is marked as not mergeable (R3).
        let region = unsafe { Region::new(mem.as_mut_ptr().cast(), len) }?;
        Ok(Region { may_merge: false, ..region })
    }

    /// Whether a heap may merge this region with a touching one (R3).
    pub fn may_merge(&self) -> bool {
        self.may_merge
    }

    /// The first byte of the region.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The number of bytes in the region.
    #[allow(clippy::len_without_is_empty)] // a region is never empty
    pub fn len(&self) -> usize {
        self.len
    }

    /// The address one past the last byte (never overflows, R1).
    pub fn end_addr(&self) -> usize {
        self.base.as_ptr().addr() + self.len
    }

    /// Whether `addr` lies inside `[base, base + len)`.
    pub fn contains_addr(&self, addr: usize) -> bool {
        addr >= self.base.as_ptr().addr() && addr < self.end_addr()
    }

    /// Whether the two ranges share at least one byte.
    pub fn overlaps(&self, other: &Region) -> bool {
        self.base.as_ptr().addr() < other.end_addr() && other.base.as_ptr().addr() < self.end_addr()
    }

    /// Rounds the base up and the end down to multiples of `align`, and requires at least
    /// `min_len` bytes to remain.
    ///
    /// # Errors
    ///
    /// [`RegionError::TooSmall`] if fewer than `max(min_len, 1)` bytes remain.
    ///
    /// # Panics
    ///
    /// Never. An `align` that is not a power of two is rounded up to one (zero counts as one).
    pub fn align_to(self, align: usize, min_len: usize) -> Result<Region, RegionError> {
        let align = align.max(1).checked_next_power_of_two().unwrap_or(usize::MAX / 2 + 1);
        let min = min_len.max(1);
        let start = self.base.as_ptr().addr();
        let end = self.end_addr();
        let aligned_start = match start.checked_next_multiple_of(align) {
            Some(a) if a <= end => a,
            _ => return Err(RegionError::TooSmall { min }),
        };
        let aligned_end = end - end % align;
        let len = aligned_end.saturating_sub(aligned_start);
        if len < min {
            return Err(RegionError::TooSmall { min });
        }
        // Moving the base forward inside the same range keeps its provenance, and R1 holds for
        // a sub-range. `aligned_start >= start > 0`, so `NonNull::new` cannot fail.
        let base =
            NonNull::new(self.base.as_ptr().with_addr(aligned_start)).ok_or(RegionError::Null)?;
        Ok(Region { base, len, may_merge: self.may_merge })
    }

    /// Splits off the first `at` bytes; `self` keeps the rest. Returns `None` (and leaves `self`
    /// unchanged) unless `0 < at < len`.
    pub fn split_off_front(&mut self, at: usize) -> Option<Region> {
        if at == 0 || at >= self.len {
            return None;
        }
        // `base + at < base + len` does not wrap (R1), so the result is non-null. Wrapping
        // arithmetic keeps this free of UB even for a region that was never dereferenceable.
        let rest = NonNull::new(self.base.as_ptr().wrapping_add(at))?;
        let front = Region { base: self.base, len: at, may_merge: self.may_merge };
        self.base = rest;
        self.len -= at;
        Some(front)
    }
}

/// A `static`-friendly buffer of `N` bytes that hands out its [`Region`] exactly once.
///
/// This is the safe way to give firmware memory to a global allocator: no raw addresses, no
/// `static mut`.
///
/// ```
/// use bareheap::HeapMemory;
/// static MEMORY: HeapMemory<1024> = HeapMemory::new();
///
/// let region = MEMORY.take().expect("first take succeeds");
/// assert_eq!(region.len(), 1024);
/// assert!(MEMORY.take().is_none(), "the buffer is handed out once");
/// ```
#[repr(C, align(16))]
pub struct HeapMemory<const N: usize> {
    bytes: UnsafeCell<[MaybeUninit<u8>; N]>,
    taken: once::Flag,
}

// SAFETY: the bytes are reached only through the one `Region` that `take` hands out; `take`
// decides who gets it with an atomic (or critical-section protected) test-and-set.
unsafe impl<const N: usize> Sync for HeapMemory<N> {}

impl<const N: usize> HeapMemory<N> {
    /// An untaken buffer. Lives in `.bss`; no bytes are written before a heap uses them.
    #[allow(clippy::new_without_default)] // a `static` needs the const fn, not `Default`
    pub const fn new() -> Self {
        HeapMemory { bytes: UnsafeCell::new([MaybeUninit::uninit(); N]), taken: once::Flag::new() }
    }

    /// The buffer's region the first time; `None` afterwards (and for `N == 0`).
    pub fn take(&'static self) -> Option<Region> {
        if !self.taken.set_once() {
            return None;
        }
        // SAFETY: `set_once` returned true exactly once for this `'static` buffer, so the
        // region is the only access path to these bytes from now on (R2); it is marked as not
        // mergeable (R3).
        let region = unsafe { Region::new(self.bytes.get().cast(), N) }.ok()?;
        Some(Region { may_merge: false, ..region })
    }
}

/// A test-and-set flag: compare-and-swap where the target has it, otherwise a critical section.
mod once {
    #[cfg(target_has_atomic = "8")]
    pub(crate) struct Flag(core::sync::atomic::AtomicBool);

    #[cfg(target_has_atomic = "8")]
    impl Flag {
        pub(crate) const fn new() -> Self {
            Flag(core::sync::atomic::AtomicBool::new(false))
        }
        /// True for the first caller only.
        pub(crate) fn set_once(&self) -> bool {
            !self.0.swap(true, core::sync::atomic::Ordering::AcqRel)
        }
    }

    #[cfg(all(not(target_has_atomic = "8"), feature = "critical-section"))]
    pub(crate) struct Flag(critical_section::Mutex<core::cell::Cell<bool>>);

    #[cfg(all(not(target_has_atomic = "8"), feature = "critical-section"))]
    impl Flag {
        pub(crate) const fn new() -> Self {
            Flag(critical_section::Mutex::new(core::cell::Cell::new(false)))
        }
        pub(crate) fn set_once(&self) -> bool {
            critical_section::with(|cs| !self.0.borrow(cs).replace(true))
        }
    }

    #[cfg(all(not(target_has_atomic = "8"), not(feature = "critical-section")))]
    compile_error!(
        "this target has no compare-and-swap: enable bareheap's `critical-section` feature"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(addr: usize) -> *mut u8 {
        core::ptr::without_provenance_mut(addr)
    }

    #[test]
    fn new_null_base_is_rejected() {
        // SAFETY: the call fails before anything could be accessed.
        assert_eq!(unsafe { Region::new(core::ptr::null_mut(), 16) }, Err(RegionError::Null));
    }

    #[test]
    fn new_wrapping_range_is_rejected() {
        for (addr, len) in [(usize::MAX, 2), (usize::MAX - 15, 17), (1, usize::MAX)] {
            // SAFETY: the call fails before anything could be accessed; the pointer is fake.
            let r = unsafe { Region::new(fake(addr), len) };
            assert_eq!(r, Err(RegionError::WrapsAround), "{addr:#x}+{len}");
        }
    }

    #[test]
    fn new_range_ending_at_top_of_address_space_is_accepted_but_not_wrapped() {
        // SAFETY: the fake region is never accessed; only arithmetic is checked.
        let r = unsafe { Region::new(fake(usize::MAX - 15), 15) }.unwrap();
        assert_eq!(r.end_addr(), usize::MAX);
        let a = r.align_to(16, 1);
        assert_eq!(a, Err(RegionError::TooSmall { min: 1 }));
    }

    #[test]
    fn align_to_trims_both_ends() {
        for off in 0..64usize {
            for len in 0..200usize {
                // SAFETY: fake pointer, never accessed.
                let Ok(r) = (unsafe { Region::new(fake(0x1000 + off), len) }) else {
                    assert_eq!(len, 0);
                    continue;
                };
                match r.align_to(16, 32) {
                    Ok(a) => {
                        let s = a.base().as_ptr().addr();
                        assert_eq!(s % 16, 0);
                        assert_eq!(a.len() % 16, 0);
                        assert!(a.len() >= 32);
                        assert!(s >= 0x1000 + off && a.end_addr() <= 0x1000 + off + len);
                    }
                    Err(e) => assert_eq!(e, RegionError::TooSmall { min: 32 }),
                }
            }
        }
    }

    #[test]
    fn align_to_huge_alignment_never_overflows() {
        // SAFETY: fake pointer, never accessed.
        let r = unsafe { Region::new(fake(0x1000), 0x1000) }.unwrap();
        assert!(r.align_to(1 << (usize::BITS - 1), 1).is_err());
    }

    #[test]
    fn split_off_front_keeps_both_parts() {
        // SAFETY: fake pointer, never accessed.
        let mut r = unsafe { Region::new(fake(0x1000), 100) }.unwrap();
        assert!(r.split_off_front(0).is_none());
        assert!(r.split_off_front(100).is_none());
        let front = r.split_off_front(30).unwrap();
        assert_eq!((front.len(), r.len()), (30, 70));
        assert_eq!(front.end_addr(), r.base().as_ptr().addr());
    }

    #[test]
    fn heap_memory_is_taken_once() {
        static MEM: HeapMemory<64> = HeapMemory::new();
        let r = MEM.take().unwrap();
        assert_eq!(r.base().as_ptr().addr() % 16, 0);
        assert!(MEM.take().is_none());
    }
}
