//! Heap statistics: [`Counted`] counts what goes through any heap; [`HeapStats`] asks the heap
//! itself how much is free.
//!
//! | figure | where | cost |
//! | --- | --- | --- |
//! | bytes and blocks in use, peak bytes (resettable) | [`Counters`] from [`Counted::counters`] | O(1): a few additions per operation |
//! | allocations, deallocations, reallocations, failures | [`Counters`] | O(1) |
//! | free bytes, largest free block, fragmentation | [`Stats`] from [`Counted::stats`] | a walk of the heap's free space ([`HeapStats`]) |
//!
//! `Counted<H>` is a [`Heap`] itself, so it goes anywhere a heap goes, including inside
//! [`Locked`], where [`Locked::stats`] reads the figures under the lock:
//!
//! ```
//! use core::alloc::{GlobalAlloc, Layout};
//! use bareheap::{Bump, Counted, HeapMemory, Locked, Spin};
//!
//! static MEMORY: HeapMemory<1024> = HeapMemory::new();
//! static HEAP: Locked<Spin, Counted<Bump>> = Locked::new(Counted::new(Bump::new()));
//!
//! HEAP.claim(MEMORY.take().unwrap()).unwrap();
//! let layout = Layout::new::<[u8; 100]>();
//! // SAFETY: non-zero size; freed with the same layout.
//! unsafe {
//!     let p = HEAP.alloc(layout);
//!     assert!(!p.is_null());
//!     HEAP.dealloc(p, layout);
//! }
//! let stats = HEAP.stats().unwrap();
//! assert_eq!(stats.counters.bytes_in_use, 0);
//! assert_eq!(stats.counters.peak_bytes, 100);
//! assert_eq!((stats.counters.allocations, stats.counters.deallocations), (1, 1));
//! assert_eq!(stats.free_bytes, 1024);
//! println!("{stats}"); // one line; `{stats:#}` prints one figure per line
//! ```
//!
//! # What the counters count
//!
//! Bytes are the sizes *requested* (`layout.size()`), not what the heap spends on them:
//! headers, rounding and alignment padding are visible only as the difference between
//! [`Stats::free_bytes`] and the heap's capacity. A zero-size allocation counts as a block of 0
//! bytes. A successful [`grow`](Heap::grow) or [`shrink`](Heap::shrink) counts as one
//! reallocation and changes the bytes in use by the difference; any failed operation counts
//! as one failure. Totals are `u64` and wrap instead of overflowing (after 2^64 operations).
//!
//! # Cost
//!
//! Counting is a wrapper, so a heap that is not wrapped pays nothing, and no cargo feature is
//! needed. Wrapped, each call does a few additions and one comparison. Measured on x86_64 with
//! `examples/stats_cost.rs` (release build; exact instruction counts from callgrind, the same
//! 4096-operation program through `Locked<Spin, _>` as `GlobalAlloc`, allocation and
//! deallocation calls alike):
//!
//! | heap | instructions per call | with `Counted` | extra |
//! | --- | --- | --- | --- |
//! | `Bump` | 82.7 | 97.2 | +14.5 (+17.5 %) |
//! | `FirstFit` | 198.7 | 211.4 | +12.8 (+6.4 %) |
//!
//! The per-call figures include the lock and the benchmark's own bookkeeping, so the relative
//! cost on the heap alone is higher for `Bump`, whose operations are a handful of instructions.
//! Reproduce with
//! `valgrind --tool=callgrind target/release/examples/stats_cost <row> <rounds>` (see the
//! example's header).
//!
//! On a Cortex-M3 (QEMU instruction counts of the `bareheap_counted_first_fit` and
//! `bareheap_first_fit` rows of `cargo xtask bench`, opt-level `s`, no lock), the 64-bit
//! totals make it a little dearer: mean instructions per `allocate` 76.2 → 92.8 (+16.6),
//! `deallocate` 127.6 → 138.6 (+11.0), `grow`/`shrink` 263.7 → 287.9 (+24.2); code +224 bytes,
//! static RAM +52 bytes.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::heap::{Claim, Corruption, Heap};
use crate::locked::{Locked, RawLock};
use crate::{Bump, FirstFit, Region, RegionError};

/// Free-space queries a heap answers from its own metadata.
///
/// Both figures are payload bytes, with the heap's per-block headers already taken off where
/// the heap knows them; alignment padding is not (a request with a large alignment may not get
/// [`largest_free_block`](HeapStats::largest_free_block) bytes).
pub trait HeapStats {
    /// Bytes that are free: the sum over all free blocks.
    ///
    /// # Time complexity
    ///
    /// Stated per heap; O(free blocks) for a free-list heap, O(1) for [`Bump`].
    fn free_bytes(&self) -> usize;

    /// The largest single allocation (at the heap's natural alignment) that would succeed now.
    ///
    /// # Time complexity
    ///
    /// As for [`free_bytes`](HeapStats::free_bytes).
    fn largest_free_block(&self) -> usize;
}

/// A bump allocator's free space is one block: everything after `next`.
impl HeapStats for Bump {
    /// O(1).
    fn free_bytes(&self) -> usize {
        self.remaining()
    }

    /// O(1).
    fn largest_free_block(&self) -> usize {
        self.remaining()
    }
}

/// Free payload bytes of the free list (block sizes minus headers).
impl HeapStats for FirstFit {
    /// O(free blocks).
    fn free_bytes(&self) -> usize {
        FirstFit::free_bytes(self)
    }

    /// O(free blocks).
    fn largest_free_block(&self) -> usize {
        FirstFit::largest_free_block(self)
    }
}

/// The O(1) counters a [`Counted`] heap keeps. A snapshot: copying it out of a lock is cheap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Bytes requested by the blocks currently allocated.
    pub bytes_in_use: usize,
    /// Blocks currently allocated (zero-size ones included).
    pub blocks_in_use: usize,
    /// The highest `bytes_in_use` since creation or the last [`Counted::reset_peak`].
    pub peak_bytes: usize,
    /// Successful allocations.
    pub allocations: u64,
    /// Deallocations.
    pub deallocations: u64,
    /// Successful grows and shrinks (in place or moved).
    pub reallocations: u64,
    /// Failed allocations, grows and shrinks.
    pub failures: u64,
}

/// Everything known about a heap: the [`Counters`] and the free-space figures of
/// [`HeapStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The O(1) counters.
    pub counters: Counters,
    /// [`HeapStats::free_bytes`].
    pub free_bytes: usize,
    /// [`HeapStats::largest_free_block`].
    pub largest_free_block: usize,
}

impl Stats {
    /// Fragmentation of the free space in per mille: `1000 × (1 − largest_free_block /
    /// free_bytes)`. 0 when all free memory is one block (or nothing is free); near 1000 when it
    /// is scattered in many small pieces.
    ///
    /// ```
    /// # use bareheap::{Counted, Bump, HeapMemory, Claim};
    /// # static MEMORY: HeapMemory<64> = HeapMemory::new();
    /// let mut heap = Counted::new(Bump::new());
    /// heap.claim(MEMORY.take().unwrap()).unwrap();
    /// assert_eq!(heap.stats().fragmentation_permille(), 0); // one free block
    /// ```
    pub fn fragmentation_permille(&self) -> u32 {
        permille_not_in(self.largest_free_block, self.free_bytes)
    }
}

/// `1000 × (1 − part / whole)`, rounded down, without overflow or division by zero.
fn permille_not_in(part: usize, whole: usize) -> u32 {
    // `usize` is at most 64 bits on every Rust target.
    let mut whole = whole as u64;
    let mut part = (part as u64).min(whole);
    if whole == 0 {
        return 0;
    }
    // Keep `(whole - part) * 1000` inside u64; the ratio survives the scaling.
    while whole > u64::MAX / 1000 {
        whole >>= 1;
        part >>= 1;
    }
    // `whole >= 1` still: it was above `u64::MAX / 1000` before the last shift.
    ((whole - part) * 1000 / whole) as u32
}

/// One line by default; with `{:#}`, one figure per line.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let frag = self.fragmentation_permille();
        let (sep, lead) = if f.alternate() { ("\n", "  ") } else { ("; ", "") };
        let plural = if c.blocks_in_use == 1 { "" } else { "s" };
        write!(
            f,
            "{lead}in use: {} B in {} block{plural} (peak {} B){sep}",
            c.bytes_in_use, c.blocks_in_use, c.peak_bytes
        )?;
        write!(
            f,
            "{lead}free: {} B, largest block {} B, fragmentation {}.{} %{sep}",
            self.free_bytes,
            self.largest_free_block,
            frag / 10,
            frag % 10
        )?;
        write!(
            f,
            "{lead}operations: {} allocated, {} freed, {} reallocated, {} failed",
            c.allocations, c.deallocations, c.reallocations, c.failures
        )
    }
}

/// A heap that counts what goes through it: bytes and blocks in use, the peak, and totals of
/// allocations, deallocations, reallocations and failures.
///
/// `Counted<H>` forwards every call to `H` and updates its [`Counters`] afterwards, so it works
/// for every heap, and [`Locked`]`<L, Counted<H>>` gives statistics through the lock
/// ([`Locked::stats`]).
///
/// # Properties
///
/// - Time: O(1) extra per operation (a handful of additions and one comparison).
/// - Memory: one [`Counters`] (56 bytes on 64-bit targets, 48 on Cortex-M); nothing per block.
///
/// # Drawbacks
///
/// - Counts requested sizes, not the heap's real footprint (see the [module docs](self)).
/// - Blocks allocated through [`heap_mut`](Counted::heap_mut) bypass the counters; freeing
///   them through the `Counted` makes the counters wrong (and [`Heap::validate`] says so).
///
/// # Invariants
///
/// - **CT1** `peak_bytes >= bytes_in_use`.
/// - **CT2** `allocations - deallocations == blocks_in_use` (modulo 2^64), as long as every
///   block went through the `Counted` both ways.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use bareheap::{Bump, Claim, Counted, Heap, HeapMemory};
///
/// static MEMORY: HeapMemory<256> = HeapMemory::new();
/// let mut heap = Counted::new(Bump::new());
/// heap.claim(MEMORY.take().unwrap()).unwrap();
///
/// let layout = Layout::new::<[u64; 8]>();
/// let a = heap.allocate(layout).unwrap();
/// let b = heap.allocate(layout).unwrap();
/// assert!(heap.allocate(Layout::new::<[u8; 512]>()).is_none());
/// // SAFETY: `b` and `a` are live blocks of `heap` with `layout`, each freed once.
/// unsafe {
///     heap.deallocate(b, layout);
///     heap.deallocate(a, layout);
/// }
/// let c = heap.counters();
/// assert_eq!((c.bytes_in_use, c.peak_bytes), (0, 128));
/// assert_eq!((c.allocations, c.deallocations, c.failures), (2, 2, 1));
///
/// heap.reset_peak(); // a new high-water mark from here on
/// assert_eq!(heap.counters().peak_bytes, 0);
/// ```
#[derive(Debug, Default)]
pub struct Counted<H> {
    heap: H,
    counters: Counters,
}

impl<H> Counted<H> {
    /// Wraps `heap` with zeroed counters. A `const fn`, for `static` allocators.
    pub const fn new(heap: H) -> Self {
        Counted {
            heap,
            counters: Counters {
                bytes_in_use: 0,
                blocks_in_use: 0,
                peak_bytes: 0,
                allocations: 0,
                deallocations: 0,
                reallocations: 0,
                failures: 0,
            },
        }
    }

    /// The counters, O(1).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Starts a new high-water mark: the peak becomes the current bytes in use.
    pub fn reset_peak(&mut self) {
        self.counters.peak_bytes = self.counters.bytes_in_use;
    }

    /// The wrapped heap, for queries.
    pub fn heap(&self) -> &H {
        &self.heap
    }

    /// The wrapped heap, e.g. to claim memory into one zone of a
    /// [`Zoned`](crate::Zoned) heap. Allocations made through it are not counted.
    pub fn heap_mut(&mut self) -> &mut H {
        &mut self.heap
    }

    /// Unwraps the heap.
    pub fn into_inner(self) -> H {
        self.heap
    }

    /// Records a successful allocation of `size` bytes.
    fn allocated(&mut self, size: usize) {
        let c = &mut self.counters;
        c.allocations = c.allocations.wrapping_add(1);
        c.blocks_in_use = c.blocks_in_use.saturating_add(1);
        c.bytes_in_use = c.bytes_in_use.saturating_add(size);
        c.peak_bytes = c.peak_bytes.max(c.bytes_in_use);
    }

    /// Records the result of an allocation of `size` bytes.
    pub(crate) fn record_allocation(
        &mut self,
        size: usize,
        result: Option<NonNull<u8>>,
    ) -> Option<NonNull<u8>> {
        match result {
            Some(_) => self.allocated(size),
            None => self.failed(),
        }
        result
    }

    /// Records the result of a grow or shrink from `old` to `new` bytes.
    pub(crate) fn record_reallocation(
        &mut self,
        old: usize,
        new: usize,
        result: Option<NonNull<u8>>,
    ) -> Option<NonNull<u8>> {
        match result {
            Some(_) => {
                let c = &mut self.counters;
                c.reallocations = c.reallocations.wrapping_add(1);
                c.bytes_in_use = c.bytes_in_use.saturating_sub(old).saturating_add(new);
                c.peak_bytes = c.peak_bytes.max(c.bytes_in_use);
            }
            None => self.failed(),
        }
        result
    }

    fn failed(&mut self) {
        self.counters.failures = self.counters.failures.wrapping_add(1);
    }
}

impl<H: HeapStats> Counted<H> {
    /// The counters and the heap's free-space figures.
    ///
    /// # Time complexity
    ///
    /// That of `H`'s [`HeapStats`] queries (the counters are O(1)).
    pub fn stats(&self) -> Stats {
        Stats {
            counters: self.counters,
            free_bytes: self.heap.free_bytes(),
            largest_free_block: self.heap.largest_free_block(),
        }
    }
}

impl<H: HeapStats> HeapStats for Counted<H> {
    fn free_bytes(&self) -> usize {
        self.heap.free_bytes()
    }

    fn largest_free_block(&self) -> usize {
        self.heap.largest_free_block()
    }
}

impl<H: Claim> Claim for Counted<H> {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        self.heap.claim(region)
    }
}

// SAFETY: every block comes from `H` unchanged, so `H`'s guarantees carry over; the counters
// are plain integers updated with saturating or wrapping arithmetic, so nothing panics.
unsafe impl<H: Heap> Heap for Counted<H> {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let result = self.heap.allocate(layout);
        self.record_allocation(layout.size(), result)
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded caller contract; `ptr` came from `self.heap` through `allocate`.
        unsafe { self.heap.deallocate(ptr, layout) };
        let c = &mut self.counters;
        c.deallocations = c.deallocations.wrapping_add(1);
        c.blocks_in_use = c.blocks_in_use.saturating_sub(1);
        c.bytes_in_use = c.bytes_in_use.saturating_sub(layout.size());
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        let result = unsafe { self.heap.grow(ptr, old, new_size) };
        self.record_reallocation(old.size(), new_size, result)
    }

    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        let result = unsafe { self.heap.shrink(ptr, old, new_size) };
        self.record_reallocation(old.size(), new_size, result)
    }

    /// Validates the wrapped heap, then the counters (CT1, CT2).
    fn validate(&self) -> Result<(), Corruption> {
        self.heap.validate()?;
        let c = &self.counters;
        let addr = core::ptr::from_ref(self).addr();
        if c.peak_bytes < c.bytes_in_use {
            return Err(Corruption { what: "CT1: peak below the bytes in use", addr });
        }
        if c.allocations.wrapping_sub(c.deallocations) != c.blocks_in_use as u64 {
            return Err(Corruption {
                what: "CT2: allocations - deallocations differs from the blocks in use",
                addr,
            });
        }
        Ok(())
    }
}

impl<L: RawLock, H: HeapStats> Locked<L, Counted<H>> {
    /// The statistics, read under the lock. `None` when called from inside this heap's own
    /// lock (re-entry).
    ///
    /// # Time complexity
    ///
    /// That of `H`'s [`HeapStats`] queries; the lock is held meanwhile.
    pub fn stats(&self) -> Option<Stats> {
        self.lock(|heap| heap.stats())
    }
}

impl<L: RawLock, H> Locked<L, Counted<H>> {
    /// The O(1) counters, read under the lock. `None` on re-entry.
    pub fn counters(&self) -> Option<Counters> {
        self.lock(|heap| heap.counters())
    }

    /// Starts a new high-water mark (see [`Counted::reset_peak`]). `false` on re-entry.
    pub fn reset_peak(&self) -> bool {
        self.lock(|heap| heap.reset_peak()).is_some()
    }
}

#[cfg(test)]
mod tests;
