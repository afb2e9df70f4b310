//! Helpers shared by the unit tests: the owned test [`Arena`] of the heaps' tests (first_fit,
//! tlsf, slab), and the leaked regions, the multi-region [`MultiBump`] and the generators of
//! the heap-management modules (stats, oom, zoned, allocator).

use core::alloc::Layout;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::boxed::Box;
use std::vec::Vec;

use crate::heap::{Claim, Corruption, Heap};
use crate::zoned::EmptyHeap;
use crate::{Bump, Region, RegionError};

/// Alignment of an [`Arena`]'s first byte.
pub(crate) const ARENA_ALIGN: usize = 4096;

/// An owned, page-aligned test buffer, freed on drop. Reached only through its raw pointer, so
/// the heap's pointers into it stay valid (no references to it while a heap uses it).
///
/// With `--cfg bareheap_asan` the heaps poison the free space and slack of the memory they
/// were given (`crate::sanitize`), and that poison outlives the heap: the arena unpoisons the
/// whole buffer whenever the test takes it back ([`Arena::fill`], and drop, before the buffer
/// goes back to the system allocator), and [`Arena::snapshot`] reads a poisoned byte as 0
/// instead of tripping ASan. Everything else (`byte`, `Region`s, the heap's own accesses) stays
/// checked, so a heap that poisons or touches memory outside its region is still reported.
///
/// # Invariants
///
/// - **TA1** `ptr` is a live allocation of `layout` (non-zero size, [`ARENA_ALIGN`]), owned by
///   the arena and freed once, in `Drop`.
pub(crate) struct Arena {
    ptr: *mut u8,
    layout: Layout,
}

impl Arena {
    /// `len` bytes (at least 1), uninitialised: lazily committed by the OS when large.
    pub(crate) fn new(len: usize) -> Arena {
        Arena::try_new(len, false).expect("test arena allocation failed")
    }

    /// `len` bytes (at least 1), all `byte`.
    pub(crate) fn filled(len: usize, byte: u8) -> Arena {
        let arena = Arena::new(len);
        arena.fill(byte);
        arena
    }

    /// `len` bytes (at least 1), zero-initialised, so that every byte may be read.
    pub(crate) fn zeroed(len: usize) -> Arena {
        Arena::try_new(len, true).expect("test arena allocation failed")
    }

    /// `None` if the system allocator refuses `len` bytes.
    pub(crate) fn try_new(len: usize, zeroed: bool) -> Option<Arena> {
        let layout = Layout::from_size_align(len.max(1), ARENA_ALIGN).ok()?;
        // SAFETY: the size is at least 1.
        let ptr = unsafe {
            if zeroed {
                std::alloc::alloc_zeroed(layout)
            } else {
                std::alloc::alloc(layout)
            }
        };
        (!ptr.is_null()).then_some(Arena { ptr, layout })
    }

    /// The number of bytes.
    pub(crate) fn len(&self) -> usize {
        self.layout.size()
    }

    /// The first byte, with the provenance of the whole buffer.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The address of the first byte.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.addr()
    }

    /// The region `[off, off + len)` of the buffer.
    pub(crate) fn region(&self, off: usize, len: usize) -> Region {
        assert!(off.checked_add(len).is_some_and(|end| end <= self.len()));
        // SAFETY: TA1: the bytes belong to this arena, which outlives every heap of the test
        // (heaps are declared after their arena, so dropped first); each test hands a byte to
        // at most one heap, except where it checks that overlap is refused.
        unsafe { Region::new(self.ptr.wrapping_add(off), len) }.unwrap()
    }

    /// Whether `[p, p + len)` lies inside the buffer.
    pub(crate) fn holds(&self, p: *mut u8, len: usize) -> bool {
        p.addr() >= self.addr() && p.addr() + len <= self.addr() + self.len()
    }

    /// Byte `i` (initialised). Not masked: reading memory a heap poisoned is reported.
    pub(crate) fn byte(&self, i: usize) -> u8 {
        assert!(i < self.len());
        // SAFETY: TA1: in bounds; the caller reads only initialised bytes.
        unsafe { self.ptr.add(i).read() }
    }

    /// Takes the whole buffer back (unpoisons it) and writes `byte` to every byte.
    ///
    /// Only call this when no heap uses the arena any more.
    pub(crate) fn fill(&self, byte: u8) {
        self.unpoison();
        // SAFETY: TA1: the buffer holds `len` bytes; no heap uses it (caller).
        unsafe { self.ptr.write_bytes(byte, self.len()) };
    }

    /// Every byte (only for initialised arenas: zeroed or filled), a poisoned one as 0, to
    /// compare before and after a call that must not write (a heap write to a poisoned byte
    /// is reported by ASan itself).
    ///
    /// Only call this while no heap call is running on the arena.
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        if crate::sanitize::ACTIVE {
            return (0..self.len())
                .map(|i| {
                    let q = self.ptr.wrapping_add(i).cast_const();
                    if crate::sanitize::is_poisoned(q) {
                        return 0;
                    }
                    // SAFETY: TA1: `q` is in bounds and initialised (caller); not poisoned.
                    unsafe { q.read() }
                })
                .collect();
        }
        // SAFETY: TA1: `len` initialised bytes (caller); no heap call runs meanwhile. (One
        // slice copy: byte by byte is slow under Miri.)
        unsafe { core::slice::from_raw_parts(self.ptr, self.len()) }.to_vec()
    }

    /// Marks the whole buffer addressable again (a no-op without `--cfg bareheap_asan`).
    fn unpoison(&self) {
        // SAFETY: TA1: the buffer is ours; this writes only ASan's shadow memory.
        unsafe { crate::sanitize::unpoison(self.ptr, self.len()) };
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // Returned to the system allocator clean, as it was handed out.
        self.unpoison();
        // SAFETY: TA1: allocated in `try_new` with this layout, freed once here.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// A leaked, 64-byte aligned buffer of `len` bytes as a region.
pub(crate) fn region(len: usize) -> Region {
    #[repr(C, align(64))]
    struct Chunk([MaybeUninit<u8>; 64]);
    let chunks = len.div_ceil(64);
    let mem: &'static mut [Chunk] =
        Box::leak((0..chunks).map(|_| Chunk([MaybeUninit::uninit(); 64])).collect());
    // SAFETY: the leaked buffer is valid forever and only reachable through the region.
    unsafe { Region::new(mem.as_mut_ptr().cast(), len) }.unwrap()
}

/// One leaked buffer cut into `N` adjacent regions of `len` bytes, in address order.
pub(crate) fn adjacent_regions<const N: usize>(len: usize) -> [Region; N] {
    let mut rest = Some(region(len * N));
    core::array::from_fn(|i| {
        let whole = rest.as_mut().unwrap();
        if i + 1 < N {
            whole.split_off_front(len).unwrap()
        } else {
            rest.take().unwrap() // the last piece is what remains
        }
    })
}

/// A test heap over up to four regions: a [`Bump`] per region, tried in claim order. Stands
/// in for a multi-region heap (FirstFit, Tlsf) in the zone tests.
pub(crate) struct MultiBump {
    bumps: [Bump; 4],
    /// `(base, len)` of each claimed region, to route frees.
    spans: [(usize, usize); 4],
    count: usize,
}

impl MultiBump {
    pub(crate) const fn new() -> Self {
        MultiBump { bumps: [const { Bump::new() }; 4], spans: [(0, 0); 4], count: 0 }
    }

    fn owner(&self, ptr: NonNull<u8>) -> Option<usize> {
        let a = ptr.as_ptr().addr();
        self.spans[..self.count].iter().position(|&(b, l)| a >= b && a < b + l)
    }
}

impl Claim for MultiBump {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        if self.count == 4 {
            return Err(RegionError::AlreadyClaimed);
        }
        let span = (region.base().as_ptr().addr(), region.len());
        let n = self.bumps[self.count].claim(region)?;
        self.spans[self.count] = span;
        self.count += 1;
        Ok(n)
    }
}

// SAFETY: every block comes from one of the bumps and goes back to the bump whose region holds
// it; the regions are disjoint (R2).
unsafe impl Heap for MultiBump {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.bumps[..self.count].iter_mut().find_map(|b| b.allocate(layout))
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(i) = self.owner(ptr) {
            // SAFETY: the block came from bump `i`, whose region holds it.
            unsafe { self.bumps[i].deallocate(ptr, layout) }
        }
    }

    unsafe fn grow(&mut self, ptr: NonNull<u8>, old: Layout, new: usize) -> Option<NonNull<u8>> {
        let i = self.owner(ptr)?;
        // SAFETY: as in `deallocate`.
        if let Some(p) = unsafe { self.bumps[i].grow(ptr, old, new) } {
            return Some(p);
        }
        // SAFETY: forwarded caller contract.
        unsafe { crate::heap::move_block(self, ptr, old, new) }
    }

    fn validate(&self) -> Result<(), Corruption> {
        self.bumps.iter().try_for_each(Heap::validate)
    }
}

// SAFETY: `MultiBump::new()` has no regions.
unsafe impl EmptyHeap for MultiBump {
    const EMPTY: Self = MultiBump::new();
}

/// A small deterministic generator for op sequences.
pub(crate) struct XorShift(pub(crate) u32);

impl XorShift {
    pub(crate) fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// A distinct id per thread, for `Spin::with_core_id`.
pub(crate) fn thread_id() -> usize {
    std::thread_local!(static ID: u8 = const { 0 });
    ID.with(|id| core::ptr::from_ref(id).addr())
}
