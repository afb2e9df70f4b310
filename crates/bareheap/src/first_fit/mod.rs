//! [`FirstFit`]: the linked-list allocator, with one header word per block, immediate
//! coalescing, in-place grow and shrink, several regions and cheap checks on every free.
//!
//! # Algorithm
//!
//! Each claimed region is cut into blocks that tile it exactly, followed by an end record.
//! Every block starts with a one-word header holding its size and a `USED` flag; the payload
//! follows the header and is aligned to the granule `G = 2 × size_of::<usize>()`. A free block
//! keeps the address of the next free block in its first payload word, and the free blocks of
//! all regions form one singly linked list sorted by address.
//!
//! ```text
//!  region  ┌────┬──────────┬────┬──────┬─────────┬────┬──────────┬─────┬───────┬─────┬──────┐
//!  bytes   │pad │ hdr  data│ hdr│ next │  (free) │ hdr│ data     │ END │ start │ end │ next │
//!          └────┴──────────┴──┬─┴──┬───┴─────────┴────┴──────────┴─────┴───────┴─────┴──┬───┘
//!                 used block  │    │  free block       used block     end record        │
//!                             │    ▼                                                    ▼
//!  self.free ─────────────────┘   next free block (higher address) … null   next region's record
//! ```
//!
//! - **allocate** walks the free list and takes the first block that fits. It carves the
//!   allocation from the *low* end of that block, at the lowest suitably aligned spot; a gap
//!   below it (only with an alignment above `G`) and the rest above it stay free blocks.
//! - **deallocate** reads the size from the block's own header (never from the caller's
//!   `Layout`), walks the list to the block's address and merges it with the free blocks that
//!   touch it on either side.
//! - **grow** absorbs the following block when it is free and large enough, splitting off what
//!   is not needed; otherwise it moves. **shrink** splits the tail off and frees it.
//! - **claim** writes one free block and an end record; a region that begins where another
//!   ends is merged with it (the old end record becomes free space) when both
//!   [may merge](Region::may_merge).
//!
//! # Properties
//!
//! With `f` free blocks and `r` regions:
//!
//! | operation | time | loops |
//! | --- | --- | --- |
//! | [`allocate`](Heap::allocate) | O(f) | one pass over the free list, stopping at the first fit |
//! | [`deallocate`](Heap::deallocate) | O(r + f) | region lookup (none with one region), then the list up to the block |
//! | [`grow`](Heap::grow) in place | O(r + f) | region lookup, then the list up to the next block |
//! | [`shrink`](Heap::shrink) | O(r + f) | region lookup, then the list up to the block |
//! | [`claim`](Claim::claim) | O(r + f) | the region list, then the free list (a few times) |
//! | [`validate`](Heap::validate) | O(blocks + r) | every block of every region once |
//!
//! A moving grow is an allocate, a copy and a deallocate. Nothing else loops; no operation
//! recurses.
//!
//! - **Granularity**: `G` = 8 bytes on 32-bit targets, 16 on 64-bit; every payload is
//!   `G`-aligned and every block size is a multiple of `G`.
//! - **Per-allocation overhead**: one word ([`FirstFit::overhead_per_allocation`]); a request of
//!   `n` bytes (alignment ≤ `G`) takes `n + word` rounded up to `G`, at least `G`. Larger
//!   alignments cost no more than the alignment: the gap in front stays a free block.
//! - **Per-region overhead**: up to `G − 1` bytes of alignment at the start, the end record
//!   (four words) and up to `G − 1` bytes after it. [`FirstFit::MIN_REGION_SIZE`] is accepted at
//!   any base address; [`FirstFit::region_size_for`] sizes a region for a given allocation.
//! - **Worst-case fragmentation**: like every allocator that never moves blocks, first-fit can
//!   be driven by an adversarial sequence to need about `M · log2(n)` bytes for `M` live bytes
//!   (Robson's bound; `n` is the ratio of the largest to the smallest request). Coalescing is
//!   immediate, so memory freed in any order is whole again once everything is freed.
//!
//! # Drawbacks
//!
//! - Linear time: with many free blocks (a fragmented heap) allocation and free get slow, and
//!   the time spent with interrupts masked (inside [`Locked`](crate::Locked)) grows with them.
//!   Use `Tlsf` where a constant bound matters.
//! - Classic first-fit placement: small and large blocks interleave; there are no size
//!   classes.
//! - The checks on free catch pointers outside every region, misaligned pointers, double frees
//!   and blocks that overlap free space (each reported to the [fault handler](crate::fault)),
//!   but not an interior pointer whose preceding word happens to look like a valid header.
//! - Touching regions merge only when both [may merge](Region::may_merge): regions made with
//!   `unsafe` [`Region::new`] (whose contract covers merging), not those from
//!   [`Region::from_static`] or `HeapMemory`, which are distinct Rust objects even when the
//!   linker puts them back to back. Unmerged touching regions each keep their end record.
//!
//! # Changes from the classic linked-list allocator
//!
//! - **A size header.** The textbook version (and linked_list_allocator) keeps no header and
//!   trusts the caller's `Layout` on free, so a wrong layout corrupts the neighbours. One word
//!   per block buys a heap that frees the right number of bytes whatever the caller says, and
//!   the `USED` bit that catches double frees.
//! - **Alignment without waste.** Block starts are `≡ W (mod G)`, so the gap below an
//!   over-aligned block is a multiple of `G`, hence a minimal free block or nothing: no byte is
//!   lost to alignment. (An earlier version carved from the *end* of the fitting block to save
//!   a link update; since the lowest free block is usually the large untouched one, that made
//!   first-fit skip the holes left by frees and behave like a bump allocator: 69 % heap
//!   efficiency instead of 96 % in `cargo xtask bench`.)
//! - **End records.** Each region ends in a record that stops physical walks and coalescing,
//!   lets `claim` refuse overlaps and merge neighbours, and lets `deallocate` refuse pointers
//!   outside every region.
//!
//! # Invariants
//!
//! `W` is the word size, `G = 2W` the granule.
//!
//! - **FF1** `free` heads a singly linked list of exactly the free blocks of all regions, in
//!   strictly increasing address order, linked through the word at `block + W`; null ends it.
//! - **FF2** No two free blocks are physically adjacent.
//! - **FF3** Every block starts at an address `≡ W (mod G)` and its size is a multiple of `G`,
//!   at least `G`. Its header word is `size | flags`: a free block's header is exactly its size
//!   (no flags), a used block's has the `USED` flag and no other.
//! - **FF4** The blocks of a region tile `[first_block(start), record)` exactly, where `record`
//!   is `end_record(end)` for the region `[start, end)` given to `claim`. The record holds the
//!   header `USED | END` (plus `NO_MERGE` for a region that may not merge), then `start`, `end` and the next record's address.
//! - **FF5** The region list starting at `regions` is sorted by address; regions neither overlap
//!   nor touch, except where one of two touching regions may not merge (`NO_MERGE`). `lo` is the first block of the lowest region and `hi`
//!   the record of the highest, or both are 0 with no region; `region_count` counts them.
//!
//! - **FF6** Every free-list link (the head `free` and the link word of each free block) is
//!   stored as its address XOR `key`. `key` is 0 in [`FirstFit`] (`FirstFitWith<false>`); in
//!   `FirstFitWith<true>` it is fixed at the first claim, odd, and never changes afterwards.
//!
//! [`validate`](Heap::validate) checks FF1–FF5 in one pass and names the violated one.
//!
//! # Hardened variant
//!
//! `FirstFitWith<true>` stores its links encoded (FF6) and checks every link it reads: a link
//! must be null or a block position above the block holding it and inside the heap's bounds.
//! A stray write into a free block (a use after free) then turns into a link that fails the
//! check with high probability, instead of a wild pointer the next allocation follows. The
//! failure goes to the [fault handler](crate::fault) as
//! `FaultKind::CorruptLink`: `allocate` returns `None`,
//! `deallocate` writes nothing. With the `hardened` feature,
//! [`HardenedFirstFit`](crate::hardened::HardenedFirstFit) adds canaries and layout checks on top.
//! `FirstFitWith<false>` compiles the encoding and the checks away.
//!
//! # Examples
//!
//! The whole life of a heap: claim, allocate until it runs out, free, allocate again.
//!
//! ```
//! use core::alloc::Layout;
//! use bareheap::{Claim, FirstFit, Heap, HeapMemory};
//!
//! static MEMORY: HeapMemory<1024> = HeapMemory::new();
//!
//! let mut heap = FirstFit::new();
//! let usable = heap.claim(MEMORY.take().unwrap()).unwrap();
//! assert!(usable >= 1024 - FirstFit::MIN_REGION_SIZE);
//!
//! let layout = Layout::new::<[u64; 4]>();
//! let mut blocks = Vec::new();
//! while let Some(block) = heap.allocate(layout) {
//!     blocks.push(block);
//! }
//! // 32 bytes of payload plus a header word, rounded to the granule, per block.
//! assert!(blocks.len() >= 1024 / 64);
//!
//! for block in blocks.drain(..) {
//!     // SAFETY: every block came from `heap` with `layout` and is freed once.
//!     unsafe { heap.deallocate(block, layout) };
//! }
//! heap.validate().unwrap();
//!
//! // Everything coalesced back: the largest block is the whole region again.
//! assert_eq!(heap.largest_free_block(), usable);
//! let big = Layout::from_size_align(usable, 8).unwrap();
//! assert!(heap.allocate(big).is_some());
//! ```

mod math;
#[cfg(test)]
mod tests;

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use self::math::{GRANULE, HEADER, MIN_BLOCK, MIN_REGION, RECORD, WORD};
use crate::fault::{self, FaultKind, HeapKind};
use crate::heap::{Claim, Corruption, Heap};
use crate::iterations::Ticks;
use crate::sanitize;
use crate::{Region, RegionError};

/// Header flag: the block is allocated, or is an end record.
const USED: usize = 1;
/// Header flag: the word is a region's end record (`END ⟹ USED`).
const END: usize = 2;
/// End-record flag: the region must not be merged with a touching one (`Region::may_merge`
/// was false, R3). Only ever set together with `USED | END`.
const NO_MERGE: usize = 4;
/// The header bits that are flags; the rest is the size (a multiple of [`GRANULE`], FF3).
const FLAGS: usize = GRANULE - 1;

/// A first-fit heap over an address-ordered free list, with immediate coalescing; with
/// `HARDENED`, its free-list links are stored encoded and checked (FF6). Use the alias
/// [`FirstFit`] for the plain heap.
///
/// See the [module documentation](self) for the algorithm, its costs and its invariants.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use bareheap::{Claim, FirstFit, Heap, HeapMemory};
///
/// static MEMORY: HeapMemory<256> = HeapMemory::new();
///
/// let mut heap = FirstFit::new();
/// heap.claim(MEMORY.take().unwrap()).unwrap();
/// let layout = Layout::from_size_align(24, 8).unwrap();
/// let a = heap.allocate(layout).unwrap();
/// let b = heap.allocate(layout).unwrap(); // carved right above `a`
/// // SAFETY: `a` and `b` are live blocks from `heap`, each freed once with its layout.
/// unsafe {
///     heap.deallocate(a, layout);
///     let grown = heap.grow(b, layout, 40).unwrap();
///     assert_eq!(grown, b, "in place: the block behind `b` was free");
///     heap.deallocate(grown, Layout::from_size_align(40, 8).unwrap());
/// }
/// heap.validate().unwrap();
/// ```
#[derive(Debug)]
pub struct FirstFitWith<const HARDENED: bool> {
    /// The lowest free block, or null (FF1), encoded (FF6).
    free: *mut u8,
    /// The end record of the lowest region, or null (FF5).
    regions: *mut u8,
    /// The first block of the lowest region (FF5).
    lo: usize,
    /// The end record of the highest region (FF5).
    hi: usize,
    /// The number of regions (FF5).
    region_count: usize,
    /// `(hi − lo) / G`: the payload positions between `lo` and `hi`, for the one-comparison
    /// check on free (FF5).
    positions: usize,
    /// The link key (FF6): 0 unless `HARDENED`; before the first claim, the seed.
    pub(crate) key: usize,
    /// Loop iterations (feature `loop-counters`; zero-sized otherwise, F6).
    ticks: Ticks,
}

/// The first-fit heap: [`FirstFitWith`] without encoded links. See the [module
/// documentation](self).
pub type FirstFit = FirstFitWith<false>;

// SAFETY: the pointers reach only memory the heap owns through the `Region`s it claimed (R2);
// moving the heap to another thread moves that ownership, like moving a `&'static mut [u8]`.
unsafe impl<const HARDENED: bool> Send for FirstFitWith<HARDENED> {}

impl<const HARDENED: bool> Default for FirstFitWith<HARDENED> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const HARDENED: bool> FirstFitWith<HARDENED> {
    /// The least region length accepted whatever the region's base address: alignment of the
    /// first block (up to `G − 1` bytes), one minimal block and the end record. A promise that
    /// users may size heaps against: later versions never raise it.
    ///
    /// 31 bytes on 32-bit targets, 63 on 64-bit. A shorter region may still be accepted when
    /// its base happens to be well aligned; [`claim`](Claim::claim) refuses the rest with
    /// [`RegionError::TooSmall`] carrying this value.
    pub const MIN_REGION_SIZE: usize = MIN_REGION;

    /// Payload alignment and size unit: `2 × size_of::<usize>()`.
    pub const GRANULE: usize = GRANULE;

    /// An empty heap, for a `static`. It allocates nothing until it [claims](Claim::claim) a
    /// region.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// An empty heap whose link key (with `HARDENED`) mixes `seed` with the address of the
    /// first region claimed. A seed from a hardware random number generator at boot makes the
    /// key unpredictable; without one ([`new`](Self::new)) the key still turns a stray write
    /// into a free block into a link that fails its bounds check, with high probability.
    /// Without `HARDENED` the seed is ignored.
    pub const fn with_seed(seed: usize) -> Self {
        let key = if HARDENED { seed } else { 0 };
        FirstFitWith {
            free: ptr::without_provenance_mut(key), // null, encoded (FF6)
            regions: ptr::null_mut(),
            lo: 0,
            hi: 0,
            region_count: 0,
            positions: 0,
            key,
            ticks: Ticks::new(),
        }
    }

    /// The key free-list links are stored with (FF6): a constant 0 without `HARDENED`, so
    /// the encoding compiles away.
    #[inline(always)]
    fn key(&self) -> usize {
        if HARDENED {
            self.key
        } else {
            0
        }
    }

    /// With `HARDENED`: whether `to`, read from the link of the free block at `from` (0 for
    /// the list head), cannot be a free block: not null and not a block position above `from`
    /// inside the heap's bounds (FF1, FF3, FF5). Always false without `HARDENED`.
    #[inline(always)]
    fn bad_link(&self, from: usize, to: *mut u8) -> bool {
        let a = to.addr();
        HARDENED && a != 0 && (a % GRANULE != HEADER || a <= from || a < self.lo || a >= self.hi)
    }

    /// [`Self::MIN_REGION_SIZE`] as a function.
    pub const fn min_region_size() -> usize {
        MIN_REGION
    }

    /// Bytes each allocation costs besides its payload and rounding: one word. A promise that
    /// users may size heaps against.
    ///
    /// A request of `size` bytes at an alignment of at most [`Self::GRANULE`] occupies
    /// `size + overhead_per_allocation()` bytes rounded up to a multiple of `GRANULE`.
    pub const fn overhead_per_allocation() -> usize {
        HEADER
    }

    /// A region length that guarantees that one allocation of `layout` succeeds on a fresh
    /// heap with that region, at any base address: the block, plus `max(align, G) − 1` bytes
    /// of worst-case alignment, plus the end record. A promise, like
    /// [`MIN_REGION_SIZE`](Self::MIN_REGION_SIZE) (which is `region_size_for` of a zero-size
    /// layout).
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use bareheap::FirstFit;
    ///
    /// let layout = Layout::from_size_align(1000, 64).unwrap();
    /// let len = FirstFit::region_size_for(layout);
    /// assert!(len < 1000 + 64 + FirstFit::MIN_REGION_SIZE);
    /// ```
    pub const fn region_size_for(layout: Layout) -> usize {
        math::region_size_for(layout)
    }

    /// Free payload bytes: the sum over free blocks of their size minus the header.
    ///
    /// # Time complexity
    ///
    /// O(free blocks).
    pub fn free_bytes(&self) -> usize {
        let mut total = 0usize;
        self.for_each_free(|_, size| total += size - HEADER);
        total
    }

    /// The largest payload one allocation with alignment at most [`Self::GRANULE`] can get
    /// right now (0 when nothing is free).
    ///
    /// # Time complexity
    ///
    /// O(free blocks).
    pub fn largest_free_block(&self) -> usize {
        let mut largest = 0usize;
        self.for_each_free(|_, size| largest = largest.max(size - HEADER));
        largest
    }

    /// Loop iterations run so far by this heap's operations (feature `loop-counters`, for
    /// tests of the worst-case bound, RELIABILITY.md F6): every pass of every loop in
    /// allocate, deallocate, grow, shrink, claim and the free-list walks ticks it.
    #[cfg(feature = "loop-counters")]
    pub fn loop_iterations(&self) -> u64 {
        self.ticks.get()
    }

    /// The number of free blocks and of regions, what the bounds of the module documentation's
    /// table are stated in (feature `loop-counters`). Not counted in
    /// [`loop_iterations`](Self::loop_iterations).
    #[cfg(feature = "loop-counters")]
    pub fn bound_inputs(&self) -> (usize, usize) {
        let before = self.ticks.get();
        let mut blocks = 0usize;
        self.for_each_free(|_, _| blocks += 1);
        self.ticks.set(before);
        (blocks, self.region_count)
    }

    /// Calls `f(block, size)` for every free block, in address order.
    fn for_each_free(&self, mut f: impl FnMut(*mut u8, usize)) {
        let key = self.key();
        let mut cur = decode(self.free, key);
        let mut from = 0;
        // A damaged link (hardened) ends the walk; `validate` names it.
        while !cur.is_null() && !self.bad_link(from, cur) {
            self.ticks.tick();
            // SAFETY: `cur` is a free block (FF1), so its header is its size (FF3).
            let size = unsafe { read_word(cur) };
            f(cur, size);
            from = cur.addr();
            // SAFETY: a free block keeps its link at `+W` (FF1).
            cur = unsafe { load(header_to_link(cur), key) };
        }
    }

    /// Checks that `ptr` is the payload of a used block and returns its header and size.
    /// Reads at most one word of heap memory and writes nothing.
    ///
    /// The `Err` is the reason to hand to [`invalid_free`].
    #[inline]
    fn used_block(&self, ptr: *mut u8) -> Result<(*mut u8, usize), FaultKind> {
        let addr = ptr.addr();
        // Alignment and range in one comparison: the offset from the lowest payload position
        // `lo + W`, rotated right by log2 G, moves misaligned low bits to the top, beyond
        // every position count; below `lo + W` it wraps to a huge value. `lo` and `hi` are
        // both `≡ W (mod G)` (FF4, FF5), so `hi − lo` is a whole number of positions (0 with
        // no region: everything is refused).
        let off = addr.wrapping_sub(self.lo.wrapping_add(HEADER));
        if off.rotate_right(GRANULE.trailing_zeros()) >= self.positions {
            return Err(misaligned_or_outside(addr));
        }
        // `lo + W <= addr`, so this does not wrap; `lo <= hdr_addr < hi`.
        let hdr_addr = addr - HEADER;
        // One region: the hull is the region. Otherwise find the region that holds it.
        let limit = if self.region_count == 1 { self.hi } else { self.record_above(hdr_addr)? };
        let hdr = ptr.wrapping_sub(HEADER);
        if sanitize::is_poisoned(hdr) {
            // Free space or slack (only with `--cfg bareheap_asan`): not a header.
            return Err(FaultKind::NotAllocated);
        }
        // SAFETY: `hdr` is word-aligned (`addr` is granule-aligned) and lies between a region's
        // first block and its end record, so it is heap memory (FF4).
        let word = unsafe { read_word(hdr) };
        // A used block's header is `size | USED`, `size` a multiple of `G` from `G` to the
        // room left in the region, `limit − hdr_addr` (itself a multiple of `G`). All of it in
        // one comparison, as above: `word − USED − G` rotated right by log2 G is below the
        // room in granules only for such a header (other flag bits land at the top; a size
        // of 0 or a free header wraps to a huge value).
        let room = (limit - hdr_addr) / GRANULE;
        if word.wrapping_sub(USED + GRANULE).rotate_right(GRANULE.trailing_zeros()) >= room {
            // Free (a double free), or flags or a size no used block has.
            return Err(if word & USED == 0 {
                FaultKind::NotAllocated
            } else {
                FaultKind::BadHeader
            });
        }
        Ok((hdr, word & !FLAGS))
    }

    /// The end record of the region whose blocks cover `addr` (an address `≡ W (mod G)`).
    fn record_above(&self, addr: usize) -> Result<usize, FaultKind> {
        let mut rec = self.regions;
        while !rec.is_null() {
            self.ticks.tick();
            // SAFETY: `rec` is an end record (FF5), which holds the region start at `+W` (FF4).
            let start = unsafe { record_to_start(rec).read() };
            if addr < start {
                break; // sorted (FF5): no later region can hold it
            }
            if addr < rec.addr() {
                return Ok(rec.addr());
            }
            // SAFETY: as above, the next record's address is at `+3W`.
            rec = unsafe { record_to_next(rec).read() };
        }
        Err(FaultKind::Outside)
    }

    /// Returns the block `[blk, blk + size)` to the free list, merging it with the free blocks
    /// that touch it. Checks first and writes nothing when it overlaps a free block.
    ///
    /// # Safety
    ///
    /// `blk` must be `≡ W (mod G)` and `[blk, blk + size)` must lie in one region, between its
    /// first block and its end record, and hold no free block other than possibly overlapping
    /// ones (which are detected). `size` must be a non-zero multiple of `G`.
    unsafe fn release(&mut self, blk: *mut u8, size: usize) -> Result<(), FaultKind> {
        let key = self.key();
        let mut prev: *mut u8 = ptr::null_mut();
        let mut link: *mut *mut u8 = &raw mut self.free;
        // SAFETY: `link` is the list head.
        let mut cur = unsafe { load(link, key) };
        loop {
            self.ticks.tick();
            if self.bad_link(prev.addr(), cur) {
                return Err(FaultKind::CorruptLink);
            }
            if cur.is_null() || cur.addr() >= blk.addr() {
                break;
            }
            prev = cur;
            link = header_to_link(cur);
            // SAFETY: `cur` is a free block, whose link is at `+W` (FF1).
            cur = unsafe { load(link, key) };
        }
        // `blk + size` is at most the region's end record: no overflow (caller contract).
        let end = blk.addr() + size;
        let (mut size, mut next) = (size, cur);
        // Touching and overlapping share one comparison on the common path (a gap).
        if !cur.is_null() && end >= cur.addr() {
            if end != cur.addr() {
                return Err(FaultKind::OverlapsFree);
            }
            // SAFETY: `cur` is a free block: header = size (FF3), link at `+W` (FF1).
            size += unsafe { read_word(cur) };
            // SAFETY: as above.
            next = unsafe { load(header_to_link(cur), key) };
        }
        // SAFETY: `[blk, blk + size)` is heap memory (caller contract) about to become free.
        unsafe { sanitize::unpoison(blk, size) };
        if !prev.is_null() {
            // SAFETY: `prev` is a free block (FF1): its header is its size (FF3).
            let prev_size = unsafe { read_word(prev) };
            let prev_end = prev.addr() + prev_size;
            if prev_end >= blk.addr() {
                if prev_end != blk.addr() {
                    return Err(FaultKind::OverlapsFree);
                }
                // SAFETY: `prev` is a free block of this heap (FF1, FF3).
                unsafe { write_word(prev, prev_size + size) };
                // SAFETY: as above; `next` is the next free block after the merged range.
                unsafe { store(header_to_link(prev), next, key) };
                // Clear the stale header, so that a second free of `blk` is seen as one.
                // SAFETY: `blk` is heap memory (caller contract), now inside `prev`'s payload.
                unsafe { write_word(blk, 0) };
                // SAFETY: `prev` is now a filed free block of `prev_size + size` bytes.
                unsafe { poison_free(prev, prev_size + size) };
                return Ok(());
            }
        }
        // SAFETY: `blk` is heap memory of at least `G` bytes (caller contract): room for a
        // header and a link (FF3).
        unsafe { write_word(blk, size) };
        // SAFETY: as above.
        unsafe { store(header_to_link(blk), next, key) };
        // SAFETY: `link` is the head or the link of `prev`, the last free block below `blk`,
        // so the list stays sorted (FF1).
        unsafe { store(link, blk, key) };
        // SAFETY: `blk` is now a filed free block of `size` bytes.
        unsafe { poison_free(blk, size) };
        Ok(())
    }

    /// Links `rec` behind the region record `before` (or at the head when `before` is null).
    ///
    /// # Safety
    ///
    /// `before` must be null or an end record of this heap (FF5).
    unsafe fn set_region_next(&mut self, before: *mut u8, rec: *mut u8) {
        if before.is_null() {
            self.regions = rec;
        } else {
            // SAFETY: `before` is an end record (caller contract); its next link is at `+3W`.
            unsafe { record_to_next(before).write(rec) };
        }
    }

    /// Merges region `lower` into the region `upper` that starts exactly where `lower` ends:
    /// `lower`'s end record and the gap up to `upper`'s first block become a free block.
    ///
    /// # Safety
    ///
    /// `lower` and `upper` must be consecutive end records of this heap with `lower`'s `end`
    /// equal to `upper`'s `start`, both regions from the same memory object, and `pred` the
    /// record before `lower` (null if `lower` is the first).
    unsafe fn merge_regions(&mut self, pred: *mut u8, lower: *mut u8, upper: *mut u8) {
        // SAFETY: `upper` and `lower` are end records (caller contract, FF4).
        let upper_start = unsafe { record_to_start(upper).read() };
        // SAFETY: as above.
        let lower_start = unsafe { record_to_start(lower).read() };
        let Some(upper_first) = math::first_block(upper_start) else {
            debug_assert!(false, "a claimed region has a first block");
            return;
        };
        // SAFETY: as above.
        unsafe { record_to_start(upper).write(lower_start) };
        // SAFETY: `pred` is null or the record before `lower` (caller contract).
        unsafe { self.set_region_next(pred, upper) };
        self.region_count -= 1;
        // `lower`'s record is `≡ W (mod G)` and at least `RECORD` bytes below `upper_start`,
        // hence at least `2G` below `upper_first`: a valid block of both regions' memory.
        // SAFETY: the block lies between `lower`'s blocks and `upper`'s first block, in memory
        // the heap owns and that holds no block (FF4), and has a valid size.
        let released = unsafe { self.release(lower, upper_first - lower.addr()) };
        debug_assert!(released.is_ok(), "a record cannot overlap a free block");
    }
}

/// Carves the block `[start, start + need)` out of the free block `cur` and marks it used.
/// The part before it keeps `cur`'s place in the list; the part after it (only with an
/// alignment above `G`) is linked in behind.
///
/// # Safety
///
/// `link` must point to the link (or list head) that holds `cur`, a free block of `size`
/// bytes; `start ≡ W (mod G)`, `need` a non-zero multiple of `G`, and
/// `cur ≤ start`, `start + need ≤ cur + size`.
#[inline]
unsafe fn carve(
    link: *mut *mut u8,
    cur: *mut u8,
    size: usize,
    start: usize,
    need: usize,
    key: usize,
) -> *mut u8 {
    let lead = start - cur.addr();
    let trail = size - lead - need;
    let block = cur.with_addr(start);
    // SAFETY: `cur` is a free block of `size` bytes (caller contract), being split.
    unsafe { sanitize::unpoison(cur, size) };
    if trail != 0 {
        let rest = block.wrapping_add(need);
        // SAFETY: `cur` is a free block (caller contract): its link is at `+W` (FF1).
        let next = unsafe { load(header_to_link(cur), key) };
        // SAFETY: `rest` lies inside `cur` with `trail ≥ G` bytes (a non-zero multiple of `G`):
        // room for a header and a link.
        unsafe { write_word(rest, trail) };
        // SAFETY: as above.
        unsafe { store(header_to_link(rest), next, key) };
        if lead == 0 {
            // SAFETY: `link` holds `cur` (caller contract); `rest` takes its place (FF1).
            unsafe { store(link, rest, key) };
        } else {
            // SAFETY: `cur` stays a free block of `lead ≥ G` bytes, with `rest` after it.
            unsafe { write_word(cur, lead) };
            // SAFETY: as above.
            unsafe { store(header_to_link(cur), rest, key) };
        }
    } else if lead == 0 {
        // SAFETY: `cur`'s link is at `+W` (FF1); `link` holds `cur` (caller contract).
        let next = unsafe { load(header_to_link(cur), key) };
        // SAFETY: as above: unlink `cur`.
        unsafe { store(link, next, key) };
    } else {
        // SAFETY: `cur` stays a free block of `lead ≥ G` bytes, in the same place (FF1).
        unsafe { write_word(cur, lead) };
    }
    // SAFETY: `block` lies inside the old `cur` (caller contract) and is word-aligned.
    unsafe { write_word(block, need | USED) };
    // SAFETY: what is left before and after `block` are filed free blocks (or empty).
    unsafe {
        poison_free(cur, lead);
        poison_free(block.wrapping_add(need), trail);
    }
    block.wrapping_add(HEADER)
}

/// Poisons free block `b` of `size` bytes beyond its header and link (see `sanitize`).
///
/// # Safety
///
/// `b` is a filed free block of `size` bytes, or `size` is 0.
#[inline(always)]
unsafe fn poison_free(b: *mut u8, size: usize) {
    // SAFETY: `[b + 2W, b + size)` is inside the block and holds no metadata (FF1, FF3).
    unsafe { sanitize::poison(b.wrapping_add(2 * WORD), size.saturating_sub(2 * WORD)) };
}

/// Makes exactly `[p, p + size)` of the used block whose payload is `p` addressable and the
/// rest of the block (slack) poisoned (see `sanitize`). Returns `p`.
///
/// # Safety
///
/// `p` is the payload of a used block of at least `size + W` bytes.
#[inline(always)]
unsafe fn expose(p: NonNull<u8>, size: usize) -> NonNull<u8> {
    if sanitize::ACTIVE {
        let hdr = p.as_ptr().wrapping_sub(HEADER);
        // SAFETY: caller contract: `hdr` is a used block's header (FF3).
        let bsize = unsafe { read_word(hdr) } & !FLAGS;
        // SAFETY: both ranges are inside the block, `size <= bsize − W` (caller contract).
        unsafe {
            sanitize::unpoison(p.as_ptr(), size);
            sanitize::poison(p.as_ptr().wrapping_add(size), bsize - HEADER - size);
        }
    }
    p
}

/// The single place where a misuse detected by a cheap check lands: a free (or grow, or
/// shrink) of a pointer outside every region, not granule-aligned, not the start of a used
/// block, or overlapping free memory. The heap has not been changed when this runs; it goes to
/// the program's [fault handler](crate::fault), and the call is then ignored.
#[cold]
#[inline(never)]
fn invalid_free(ptr: *mut u8, kind: FaultKind) {
    #[cfg(test)]
    tests::note_invalid_free(ptr.addr(), kind.describe());
    fault::report(HeapKind::FirstFit, kind, ptr.addr());
}

/// Why a pointer failed the combined alignment and range check of `used_block`.
#[cold]
fn misaligned_or_outside(addr: usize) -> FaultKind {
    if addr % GRANULE != 0 {
        FaultKind::Misaligned
    } else {
        FaultKind::Outside
    }
}

/// A free-list link as stored: the address XOR `key` (FF6); provenance is kept.
#[inline(always)]
fn encode(p: *mut u8, key: usize) -> *mut u8 {
    p.map_addr(|a| a ^ key)
}

/// The inverse of [`encode`] (the same operation).
#[inline(always)]
fn decode(p: *mut u8, key: usize) -> *mut u8 {
    p.map_addr(|a| a ^ key)
}

/// Reads and decodes the free-list link at `link` (FF1, FF6).
///
/// # Safety
///
/// `link` must be the list head or the link word of a free block.
#[inline(always)]
unsafe fn load(link: *mut *mut u8, key: usize) -> *mut u8 {
    // SAFETY: caller contract.
    decode(unsafe { link.read() }, key)
}

/// Encodes `value` and stores it at `link` (FF1, FF6).
///
/// # Safety
///
/// `link` must be the list head or the link word of a free block, valid for writes.
#[inline(always)]
unsafe fn store(link: *mut *mut u8, value: *mut u8, key: usize) {
    // SAFETY: caller contract.
    unsafe { link.write(encode(value, key)) }
}

/// A well-spread key from `x` (the finaliser of MurmurHash3), odd, so that a link
/// overwritten with zero decodes to a misaligned address.
pub(crate) const fn mix(x: usize) -> usize {
    let mut x = x as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (x as usize) | 1
}

/// The link word of the free block at `hdr` (FF1).
#[inline]
fn header_to_link(hdr: *mut u8) -> *mut *mut u8 {
    hdr.wrapping_add(HEADER).cast()
}

/// The region-start field of the end record at `rec` (FF4).
fn record_to_start(rec: *mut u8) -> *mut usize {
    rec.wrapping_add(WORD).cast()
}

/// The region-end field of the end record at `rec` (FF4).
fn record_to_end(rec: *mut u8) -> *mut usize {
    rec.wrapping_add(2 * WORD).cast()
}

/// The next-record field of the end record at `rec` (FF4).
fn record_to_next(rec: *mut u8) -> *mut *mut u8 {
    rec.wrapping_add(3 * WORD).cast()
}

/// Reads the word at `p` (a block header).
///
/// # Safety
///
/// `p` must be word-aligned, valid for reads of a word, and initialised.
#[inline]
unsafe fn read_word(p: *mut u8) -> usize {
    // SAFETY: caller contract.
    unsafe { p.cast::<usize>().read() }
}

/// Writes the word at `p` (a block header).
///
/// # Safety
///
/// `p` must be word-aligned and valid for writes of a word.
#[inline]
unsafe fn write_word(p: *mut u8, value: usize) {
    // SAFETY: caller contract.
    unsafe { p.cast::<usize>().write(value) }
}

impl<const HARDENED: bool> Claim for FirstFitWith<HARDENED> {
    /// Adds `region` to the heap and returns by how many bytes [`FirstFit::free_bytes`] grew.
    ///
    /// A region that starts exactly where a claimed one ends (or ends where one starts) is
    /// merged with it when both [may merge](Region::may_merge), so one block can span both. Any number of regions may be claimed.
    ///
    /// # Time complexity
    ///
    /// O(regions + free blocks).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Errors
    ///
    /// Nothing is written and the heap is unchanged on error.
    /// - [`RegionError::TooSmall`] with [`FirstFit::MIN_REGION_SIZE`] when no minimal block and
    ///   end record fit after alignment.
    /// - [`RegionError::Overlap`] when the region shares a byte with a claimed one.
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        let base = region.base().as_ptr();
        let (start, end) = (base.addr(), region.end_addr());
        let Some((first, record)) = math::region_layout(start, end) else {
            return Err(RegionError::TooSmall { min: MIN_REGION });
        };
        // Find the neighbours in the sorted region list, refusing any overlap (FF5).
        let (mut before_pred, mut before) = (ptr::null_mut::<u8>(), ptr::null_mut::<u8>());
        let mut after = self.regions;
        while !after.is_null() {
            self.ticks.tick();
            // SAFETY: `after` is an end record (FF5); start and end are at `+W`, `+2W` (FF4).
            let (s, e) = unsafe { (record_to_start(after).read(), record_to_end(after).read()) };
            if s < end && start < e {
                return Err(RegionError::Overlap);
            }
            if s >= end {
                break;
            }
            (before_pred, before) = (before, after);
            // SAFETY: as above; the next record is at `+3W`.
            after = unsafe { record_to_next(after).read() };
        }

        let free_before = self.free_bytes();
        if HARDENED && self.region_count == 0 {
            // The list is empty (FF1): re-key it (FF6) from the seed and this region's address.
            self.key = mix(self.key ^ start);
            self.free = encode(ptr::null_mut(), self.key);
        }
        let rec = base.with_addr(record);
        // SAFETY: the record is inside the region (below): clear any stale poison.
        unsafe { sanitize::unpoison(rec, RECORD) };
        // SAFETY: `record + RECORD <= end` (region_layout) and `record ≡ W (mod G)` is
        // word-aligned: the record is inside the region, which the heap now owns (R2).
        unsafe { write_word(rec, USED | END | if region.may_merge() { 0 } else { NO_MERGE }) };
        // SAFETY: as above.
        unsafe { record_to_start(rec).write(start) };
        // SAFETY: as above.
        unsafe { record_to_end(rec).write(end) };
        // SAFETY: as above.
        unsafe { record_to_next(rec).write(after) };
        // SAFETY: `before` is null or an end record (FF5).
        unsafe { self.set_region_next(before, rec) };
        (self.lo, self.hi) = if self.region_count == 0 {
            (first, record)
        } else {
            (self.lo.min(first), self.hi.max(record))
        };
        self.region_count += 1;
        self.positions = (self.hi - self.lo) / GRANULE;
        // SAFETY: `[first, record)` is inside the new region and holds no block yet; its size
        // is a multiple of `G` of at least `G` (region_layout).
        let released = unsafe { self.release(base.with_addr(first), record - first) };
        debug_assert!(released.is_ok(), "a new region cannot overlap a free block");

        let mut lower_of_new = before;
        if !before.is_null() {
            // SAFETY: `before` is an end record (FF5): marker word, then start and end.
            let (marker, before_end) = unsafe { (read_word(before), record_to_end(before).read()) };
            if region.may_merge() && marker & NO_MERGE == 0 && before_end == start {
                // SAFETY: `before` directly precedes `rec`, ends where it starts, and
                // `before_pred` precedes `before`; both may merge (R3).
                unsafe { self.merge_regions(before_pred, before, rec) };
                lower_of_new = before_pred;
            }
        }
        if !after.is_null() {
            // SAFETY: `after` is an end record (FF5): marker word, then start and end.
            let (marker, after_start) =
                unsafe { (read_word(after), record_to_start(after).read()) };
            if region.may_merge() && marker & NO_MERGE == 0 && after_start == end {
                // SAFETY: `rec` directly precedes `after` and ends where it starts;
                // `lower_of_new` precedes `rec`; both may merge (R3).
                unsafe { self.merge_regions(lower_of_new, rec, after) };
            }
        }
        Ok(self.free_bytes().saturating_sub(free_before))
    }
}

// SAFETY: a block handed out is carved from a free block (FF1) inside a claimed region (FF4),
// so it is valid memory the heap owns (R2); it is marked used and leaves the free list, so no
// later allocation overlaps it until it is freed; its payload is `need - W >= size` bytes at an
// address that is a multiple of the requested alignment (or of `G`, when that is larger). No
// method panics: all arithmetic is bounded by region addresses or checked.
unsafe impl<const HARDENED: bool> Heap for FirstFitWith<HARDENED> {
    /// Allocates the first free block that fits, carving from its end.
    ///
    /// # Time complexity
    ///
    /// O(free blocks): one pass over the free list.
    ///
    /// # Panics
    ///
    /// Never, for any `Layout`.
    #[inline]
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let need = math::block_size(layout.size())?;
        let mask = !(layout.align() - 1);
        let key = self.key();
        let mut link: *mut *mut u8 = &raw mut self.free;
        let mut from = 0;
        loop {
            self.ticks.tick();
            // SAFETY: `link` is the list head or the link of a free block (FF1).
            let cur = unsafe { load(link, key) };
            if self.bad_link(from, cur) {
                fault::report(HeapKind::FirstFit, FaultKind::CorruptLink, from);
                return None;
            }
            if cur.is_null() {
                return None;
            }
            // SAFETY: `cur` is a free block, whose header is its size (FF1, FF3).
            let size = unsafe { read_word(cur) };
            if size >= need {
                // `cur + size` is at most a region's end record: no overflow (FF4).
                let end = cur.addr() + size;
                // The lowest payload address at the alignment (a no-op for alignments up to
                // `G`: `cur + W ≡ 0 (mod G)`). Taking the low end keeps the rest of the block
                // at the high end, so the lowest free blocks, often holes left by frees, are
                // reused first and the large block above them stays whole.
                let payload = (cur.addr() + HEADER).checked_add(!mask).map(|p| p & mask);
                if let Some(payload) = payload.filter(|&p| p - HEADER <= end - need) {
                    // SAFETY: `link` holds `cur`, a free block of `size` bytes; the block
                    // `[payload - W, payload - W + need)` lies inside it and starts
                    // `≡ W (mod G)` (a multiple of `G` minus `W`).
                    let p = unsafe { carve(link, cur, size, payload - HEADER, need, key) };
                    // SAFETY: `p` is the payload of a block just allocated for `layout`.
                    return NonNull::new(p).map(|p| unsafe { expose(p, layout.size()) });
                }
            }
            from = cur.addr();
            link = header_to_link(cur);
        }
    }

    /// Frees a block, merging it with free neighbours. The size comes from the block's header;
    /// `layout` is not used, so a wrong layout cannot corrupt the heap.
    ///
    /// A pointer outside every region, not granule-aligned, not the start of a used block, or
    /// whose block overlaps free memory is reported to the [fault handler](crate::fault) and
    /// ignored (nothing is written).
    ///
    /// # Time complexity
    ///
    /// O(regions + free blocks); O(free blocks) with one region.
    ///
    /// # Safety
    ///
    /// As [`Heap::deallocate`]. The checks above are a safety net, not a licence: a pointer
    /// into a live block's payload can pass them if the word before it looks like a header.
    ///
    /// # Panics
    ///
    /// Never.
    #[inline]
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, _layout: Layout) {
        let ptr = ptr.as_ptr();
        match self.used_block(ptr) {
            Ok((hdr, size)) => {
                // SAFETY: `hdr` is a used block of `size` bytes inside a region (used_block),
                // so it holds no free block.
                if let Err(reason) = unsafe { self.release(hdr, size) } {
                    invalid_free(ptr, reason);
                }
            }
            Err(reason) => invalid_free(ptr, reason),
        }
    }

    /// Grows in place when the next block is free and large enough (taking what is needed,
    /// splitting off the rest), otherwise moves to a new block. An invalid pointer gives
    /// `None`.
    ///
    /// # Time complexity
    ///
    /// O(regions + free blocks) in place; an allocate, a copy and a deallocate when moving.
    ///
    /// # Safety
    ///
    /// As [`Heap::grow`].
    ///
    /// # Panics
    ///
    /// Never.
    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let p = ptr.as_ptr();
        let (hdr, size) = match self.used_block(p) {
            Ok(found) => found,
            Err(reason) => {
                invalid_free(p, reason);
                return None;
            }
        };
        let need = math::block_size(new_size)?;
        if need <= size {
            // The block already has room (rounding or alignment slack).
            // SAFETY: `ptr` is the payload of a used block with room for `new_size` bytes.
            return Some(unsafe { expose(ptr, new_size) });
        }
        // SAFETY: `hdr + size` is at most the region's end record (used_block), so it is the
        // header of the next block or the record itself (FF4).
        let next = hdr.wrapping_add(size);
        // SAFETY: as above: a header, so word-aligned and initialised.
        let next_word = unsafe { read_word(next) };
        // A free header is just the size (FF3); both sizes lie in the region, no overflow.
        if next_word & USED == 0 && size + next_word >= need {
            // SAFETY: `hdr` is a used block of `size` bytes followed by the free block `next`.
            if unsafe { self.absorb_next(hdr, next, size + next_word, need) } {
                // SAFETY: `ptr` is the payload of a used block with room for `new_size` bytes.
                return Some(unsafe { expose(ptr, new_size) });
            }
        }
        let new = self.allocate(Layout::from_size_align(new_size, old.align()).ok()?)?;
        let len = old.size().min(size - HEADER).min(new_size);
        // SAFETY: the old payload holds `size - W >= len` bytes, the new one `new_size >= len`,
        // and they do not overlap: the old block is still used while `allocate` ran.
        unsafe { ptr::copy_nonoverlapping(p, new.as_ptr(), len) };
        // SAFETY: `hdr` is a used block of `size` bytes inside a region (used_block).
        if let Err(reason) = unsafe { self.release(hdr, size) } {
            invalid_free(p, reason);
        }
        Some(new)
    }

    /// Shrinks in place, freeing the tail (merged with a free block behind it). Never moves;
    /// an invalid pointer gives `None`.
    ///
    /// # Time complexity
    ///
    /// O(regions + free blocks).
    ///
    /// # Safety
    ///
    /// As [`Heap::shrink`].
    ///
    /// # Panics
    ///
    /// Never.
    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        _old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let p = ptr.as_ptr();
        let (hdr, size) = match self.used_block(p) {
            Ok(found) => found,
            Err(reason) => {
                invalid_free(p, reason);
                return None;
            }
        };
        let need = math::block_size(new_size)?;
        if need < size {
            // SAFETY: the tail `[hdr + need, hdr + size)` is part of the used block `hdr`, so
            // it lies in a region and holds no free block; its size is a multiple of `G`.
            match unsafe { self.release(hdr.wrapping_add(need), size - need) } {
                // SAFETY: `hdr` is a used block; it now ends where the freed tail starts.
                Ok(()) => unsafe { write_word(hdr, need | USED) },
                Err(reason) => invalid_free(p, reason),
            }
        }
        // SAFETY: `ptr` is the payload of a used block with room for `new_size` bytes.
        Some(unsafe { expose(ptr, new_size) })
    }

    /// Walks every region block by block and checks FF1–FF5; see the module's Invariants.
    ///
    /// # Time complexity
    ///
    /// O(blocks + regions).
    ///
    /// # Errors
    ///
    /// The first violation found, named by its invariant.
    fn validate(&self) -> Result<(), Corruption> {
        let bad = |what, addr| Err(Corruption { what, addr });
        // The free list must visit exactly the free blocks met by the physical walk, in order.
        let key = self.key();
        let mut expect_free = decode(self.free, key);
        let (mut count, mut prev_end, mut lo, mut hi) = (0usize, 0usize, 0usize, 0usize);
        let mut prev_merges = true;
        let mut rec = self.regions;
        while !rec.is_null() {
            let r = rec.addr();
            // `hi` lives outside the heap: no record may lie above it, so a damaged link cannot
            // send the walk far away.
            if r < prev_end || r > self.hi || r % GRANULE != HEADER {
                return bad("FF5: region list link out of order or out of bounds", r);
            }
            // SAFETY: `rec` lies between the previous region and the highest end record and is
            // word-aligned: an end record if FF5 holds; this reads heap memory written by
            // `claim`.
            let (marker, start, end) =
                unsafe { (read_word(rec), record_to_start(rec).read(), record_to_end(rec).read()) };
            if marker & !NO_MERGE != USED | END {
                return bad("FF4: region end record damaged", r);
            }
            let merges = marker & NO_MERGE == 0;
            let layout = math::region_layout(start, end);
            let Some((first, record)) = layout.filter(|&(_, record)| record == r) else {
                return bad("FF4: region bounds inconsistent with its end record", r);
            };
            if start < prev_end || (count > 0 && start == prev_end && merges && prev_merges) {
                return bad("FF5: regions overlap or touch without being merged", start);
            }
            if count == 0 {
                // Anchor the walk to `lo`, which lives outside the heap.
                if first != self.lo {
                    return bad("FF5: lowest region does not start at the recorded bound", start);
                }
                lo = first;
            }
            hi = record;
            let mut block = rec.with_addr(first);
            let mut prev_free = false;
            while block.addr() < record {
                // SAFETY: `block` is `≡ W (mod G)` and below the end record: heap memory that
                // FF4 says holds a header.
                let word = unsafe { read_word(block) };
                let (size, flags) = (word & !FLAGS, word & FLAGS);
                if flags & !USED != 0 {
                    return bad("FF3: block header has invalid flags", block.addr());
                }
                if size < MIN_BLOCK {
                    return bad("FF3: block smaller than the minimum", block.addr());
                }
                if size > record - block.addr() {
                    return bad("FF4: block runs past its region's end record", block.addr());
                }
                if flags == 0 {
                    if prev_free {
                        return bad("FF2: adjacent free blocks", block.addr());
                    }
                    if block != expect_free {
                        return bad("FF1: free block not next in the free list", block.addr());
                    }
                    // SAFETY: `block` is a free block of at least `G` bytes: link at `+W`.
                    expect_free = unsafe { load(header_to_link(block), key) };
                }
                prev_free = flags == 0;
                block = block.wrapping_add(size);
            }
            count += 1;
            prev_end = end;
            prev_merges = merges;
            // SAFETY: `rec` is an end record, next link at `+3W` (FF4).
            rec = unsafe { record_to_next(rec).read() };
        }
        if !expect_free.is_null() {
            return bad("FF1: free list entry outside every region", expect_free.addr());
        }
        if (count, lo, hi, hi.wrapping_sub(lo) / GRANULE)
            != (self.region_count, self.lo, self.hi, self.positions)
        {
            return bad("FF5: region count or bounds out of date", self.lo);
        }
        Ok(())
    }
}

impl<const HARDENED: bool> FirstFitWith<HARDENED> {
    /// Grows the used block `hdr` into the free block `next` right behind it, up to `need`
    /// bytes; what is left of `total` stays free. Returns false (and changes nothing) if
    /// `next` is not in the free list.
    ///
    /// # Safety
    ///
    /// `hdr` must be a used block followed directly by `next`, whose header says it is free,
    /// with `total` their combined size and `need <= total` a multiple of `G`.
    unsafe fn absorb_next(
        &mut self,
        hdr: *mut u8,
        next: *mut u8,
        total: usize,
        need: usize,
    ) -> bool {
        let key = self.key();
        let mut link: *mut *mut u8 = &raw mut self.free;
        let mut from = 0;
        loop {
            self.ticks.tick();
            // SAFETY: `link` is the list head or the link of a free block (FF1).
            let cur = unsafe { load(link, key) };
            if cur == next {
                break;
            }
            if cur.is_null() || cur.addr() > next.addr() || self.bad_link(from, cur) {
                return false; // a free-looking header not in the list: leave it alone
            }
            from = cur.addr();
            link = header_to_link(cur);
        }
        // SAFETY: `next` is a free block (found in the list, FF1): its link is at `+W`.
        let after = unsafe { load(header_to_link(next), key) };
        // SAFETY: `next` is a free block leaving the list, `[next, hdr + total)`.
        unsafe { sanitize::unpoison(next, total - (next.addr() - hdr.addr())) };
        let rest = total - need;
        let used = if rest == 0 {
            // SAFETY: `link` holds `next`; unlink it.
            unsafe { store(link, after, key) };
            total
        } else {
            let tail = hdr.wrapping_add(need);
            // SAFETY: `tail` lies in `next`'s old span with `rest ≥ G` bytes left (a non-zero
            // multiple of `G`): room for a header and a link.
            unsafe { write_word(tail, rest) };
            // SAFETY: as above.
            unsafe { store(header_to_link(tail), after, key) };
            // SAFETY: `link` holds `next`; `tail` takes its place, same order (FF1).
            unsafe { store(link, tail, key) };
            // SAFETY: `tail` is now a filed free block of `rest` bytes.
            unsafe { poison_free(tail, rest) };
            need
        };
        // SAFETY: `hdr` is a used block (caller contract).
        unsafe { write_word(hdr, used | USED) };
        true
    }
}
