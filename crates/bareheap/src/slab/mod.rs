//! A slab front end: O(1) small objects in fixed size classes, over any backing [`Heap`].
//!
//! [`Slab<H>`](Slab) serves requests up to the largest size class from *slabs*: blocks of
//! [`SlabConfig::SLAB_SIZE`] bytes, aligned to their size, that it carves from the backing heap
//! `H` on demand (a few at a time, as a *span*) and gives back when they empty. Each slab
//! holds slots of one class. Larger or
//! over-aligned requests pass straight through to `H`. It is the Redox kernel's slab allocator
//! reimagined as a composable layer: `Slab<FirstFit>`, `Slab<Tlsf>`, `Slab<Bump>`.
//!
//! ```text
//!  slab (SLAB_SIZE bytes, SLAB_SIZE-aligned), class of 48-byte slots
//!  base                                                              base + SLAB_SIZE
//!  | header | used+lent bits |  (unused)  | slot n-1 | ... | slot 1 | slot 0 |
//!  +--------+----------------+------------+----------+-----+--------+--------+
//!  ^ found in O(1) from any slot:      slots are packed against the end, so slot i
//!    ptr & !(SLAB_SIZE - 1)            starts at base + SLAB_SIZE - (i + 1) * size
//!
//!  per class:  partial ──► slab ◄─► slab ◄─► ...   (at least one free slot; full
//!                                                   slabs are on no list)
//!  per slab:   free ──► slot ──► slot ──► NO_SLOT  (freed slots, linked by index;
//!                                                   never-used slots come from `fresh`)
//!  per heap:   spans ──► span head ◄─► span head ◄─► ...   (every span, for `validate`)
//! ```
//!
//! A request picks the smallest class whose slot size is at least `layout.size()` and whose
//! slot alignment (the largest power of two dividing the slot size) is at least
//! `layout.align()`. The first slot of the first partial slab is taken; a slab that fills up
//! leaves the partial list (it is its head: two stores), and a slot freed in a full slab
//! pushes it back on. Full slabs are on no list, so when frees land in random full slabs (a
//! map churning) each costs one push and the refill one pop, not a move between two
//! doubly linked lists each way. A slab whose last slot is
//! freed joins a pool of empty slabs that any class reuses; new slabs are carved only when the
//! pool is empty, [`SlabConfig::SLABS_PER_CARVE`] at a time in one aligned block (a span).
//! Once the pool holds more than [`SlabConfig::RETAIN`] slabs, a span whose slabs are all
//! pooled goes back to `H`; [`Slab::trim`] gives back every such span. (Carving is the
//! expensive step: over a first-fit heap each `SLAB_SIZE`-aligned block costs a list walk and
//! leaves an alignment hole of up to `SLAB_SIZE` bytes in front of it, so one block per
//! several slabs matters.)
//!
//! # Properties
//!
//! - Time: allocate and free of a slab-class request are O(1): a table look-up for the class
//!   (plus at most [`MAX_CLASSES`] steps when the alignment forces a larger class), a
//!   multiply-by-reciprocal for the slot index, one bitmap word update, and a list push or
//!   pop only when a slab fills up or stops being full (an unlink when it drains). Carving or
//!   returning a slab costs one call to `H`.
//!   Pass-through requests cost what `H` costs.
//! - Overhead: no per-object header. Per slab, a header of [`Slab::header_size`] bytes (twelve
//!   words and two bits per possible slot, rounded to 16: 160 bytes for 4 KiB slabs on 64-bit
//!   targets, 64 bytes for 1 KiB slabs on 32-bit ones) and
//!   the slack below the lowest slot.
//!   Internal fragmentation is bounded by the class spacing (at most 50 % with the default
//!   classes, typically under 25 %).
//! - Memory kept: empty slabs stay pooled while at most `RETAIN` are (64 × 4 KiB for
//!   [`DefaultClasses`], 4 × 1 KiB for [`SmallClasses`]; [`Slab::set_retain`]), and a span
//!   is given back only whole, so up to `SLABS_PER_CARVE - 1` empty slabs per span in use
//!   stay too, until [`Slab::trim`]. A class whose last object is freed keeps its one slab,
//!   empty, while the pool has room (S10): a tree dropped and rebuilt reuses its slabs
//!   without a trip through the pool (on the Cortex-M3 small-object sequence, 78 slab
//!   set-ups instead of 225). So up to one empty slab per class is held besides the pool; `trim`,
//!   `set_retain` and a backing heap out of memory take them back. The pool never takes
//!   more from the backing heap than the peak in use rounded up to spans; it delays giving
//!   memory back after a peak.
//! - AddressSanitizer builds (`--cfg bareheap_asan`, `src/sanitize.rs`): a slot's payload is
//!   addressable exactly while it is handed out; its slack up to the class size, the slots
//!   of a slab not handed out yet, and a freed slot past its link word are poisoned, so a use
//!   after free or an overflow inside a slab is reported (controls in the testkit's
//!   `asan_arena` tests).
//! - Detection (catalogue J2, C1-C3, always on): a free into the wrong class, a pointer that is
//!   not a slot start, a slot that is not allocated (double free, or never handed out), and a
//!   pointer outside every slab are ignored without writing anything, and counted
//!   ([`Slab::invalid_frees`], [`Slab::last_invalid_free`]).
//!
//! # Drawbacks
//!
//! - Every class with live objects holds at least one whole slab: with `C` classes in use,
//!   `C × SLAB_SIZE` bytes of the backing heap are taken even for a handful of objects. Pick
//!   [`SmallClasses`] (1 KiB slabs) for heaps of a few tens of KiB.
//! - The backing heap must be able to hand out `SLAB_SIZE`-aligned blocks; a first-fit heap may
//!   leave up to `SLAB_SIZE` bytes of alignment hole per span (hence spans).
//! - A pass-through block freed with a slab-class layout (a broken `Heap` contract) is caught
//!   only if the address is outside every slab ever carved or its would-be header does not
//!   match; the check reads the word at the slab-aligned address below the pointer, which lies
//!   inside memory the backing heap handed out for a slab at some time. With several backing
//!   regions separated by unmapped gaps, a wild pointer in such a gap can therefore fault.
//! - A slab pointer freed with a pass-through (large) layout goes to `H` and is `H`'s to detect.
//! - The checks cost instructions (the address hull, the magic, the class, the slot start
//!   and the used/lent bits on every free): where the backing heap's own path is short, a
//!   slab free is not cheaper. On the Cortex-M3 small-object sequence (`bench/cortex-m`,
//!   `small_*`, opt-level s) a slab allocation takes 55 instructions on average against
//!   `Tlsf`'s 101 and `FirstFit`'s 58, a free 69 against 70 and 92: 62 per operation
//!   against 86 and 75. On the host, where a TLSF free that merges nothing is 49 x86
//!   instructions against the slab's 80 (a `BTreeMap` churn, callgrind), the slab only wins
//!   where the backing heap has to split or search (a tree built and dropped: 70 instructions
//!   per operation against `Tlsf`'s 98).
//!
//! # Changes from the reference allocator
//!
//! Redox's slab keeps one free list per class threaded through all of its slabs and never
//! returns memory. Here each slab keeps its own free list and bitmap (Bonwick style), so an
//! empty slab is detected in O(1) and pooled or returned, double frees are caught by the
//! bitmap, free-list links are slot indices that a bounds check keeps inside the slab, and
//! slots that were never used are handed out from a bump index, so setting up a slab is O(1)
//! instead of threading a list through every slot.
//!
//! # Invariants
//!
//! - **S1** Every slab is `SLAB_SIZE` bytes of a span currently allocated from `backing`
//!   (S8); its header sits at its base, which is `SLAB_SIZE`-aligned, and its `magic` is
//!   `SLAB_MAGIC ^ base`. A slab given back has its magic cleared first.
//! - **S2** A slab of class `c` with `live < slots(c)` is on the partial list of class `c`
//!   (doubly linked through `prev`/`next`), unless it is quarantined (`fresh == QUARANTINED`:
//!   its free list was found corrupted and it had no fresh slot left); a full slab
//!   (`live == slots(c)`) and a quarantined one are on no list. `classes[c].slabs` counts
//!   all slabs of class `c`.
//! - **S3** Slot `i < slots(c)` starts at `base + SLAB_SIZE - (i + 1) * size(c)`, which is at or
//!   above `base + header_size`; slots never overlap the header or each other.
//! - **S4** `fresh <= slots(c)`; slots `fresh..` were never handed out and their bits are clear.
//!   The `used` bit of slot `i` is set exactly while it is handed out; `live` counts those
//!   slots; a `lent` bit (the slot serves a smaller class) is set only with its `used` bit.
//! - **S5** The per-slab free list holds exactly the slots `< fresh` whose `used` bit is clear,
//!   each once; its links are slot indices: `free` is the first (or `NO_SLOT`), and a slot on
//!   the list stores the next index in its first word.
//! - **S6** Every slab lies inside `[lo, hi)`, the hull of all slabs ever carved.
//! - **S7** Empty slabs in the pool are doubly linked through `prev`/`next`, have a valid magic
//!   and `class == POOL_CLASS`, belong to no class list, and number `pooled`.
//! - **S8** Slabs are carved in spans: one block of `n * SLAB_SIZE` bytes (`1 <= n <=
//!   SLABS_PER_CARVE`) allocated from `backing`, aligned to `SLAB_SIZE`. Every slab's `span`
//!   points to the first slab of its span, whose `span_len` is `n` and whose `span_pooled`
//!   counts the span's slabs in the pool. A span is given back whole, only when all its slabs
//!   are pooled.
//! - **S9** The first slabs of all spans allocated from `backing` are doubly linked through
//!   `span_prev`/`span_next` from `spans`, and number `span_count`.
//! - **S10** A slab of a class with `live == 0` is the only slab of its class (kept on its
//!   partial list when its last slot is freed while fewer than `retain` slabs are pooled,
//!   instead of pooled). [`Slab::trim`], [`Slab::set_retain`], and a carve that finds
//!   neither pooled slabs nor room in the backing heap pool such slabs.
//!
//! `validate()` reaches every slab through the span list (S9) and checks S1-S9, then the
//! backing heap.
//!
//! # Examples
//!
//! The lifecycle of a slab heap: claim, allocate to exhaustion, free, allocate again.
//!
//! ```
//! use core::alloc::Layout;
//! use bareheap::{Bump, Claim, Heap, HeapMemory, Slab};
//! use bareheap::slab::SmallClasses;
//!
//! static MEMORY: HeapMemory<{ 4 * 1024 }> = HeapMemory::new();
//!
//! // 1 KiB slabs carved from a bump heap.
//! let mut heap: Slab<Bump, SmallClasses> = Slab::new(Bump::new());
//! heap.claim(MEMORY.take().unwrap()).unwrap();
//!
//! let node = Layout::new::<[u64; 4]>(); // 32 bytes: the 32-byte class
//! let mut blocks = Vec::new();
//! while let Some(p) = heap.allocate(node) {
//!     blocks.push(p); // slabs of 32-byte slots until the bump heap is exhausted
//! }
//! assert!(heap.slab_count() >= 3); // 4 KiB holds three or four 1 KiB-aligned slabs
//!
//! // SAFETY: every block was allocated by `heap` with `node`.
//! unsafe { heap.deallocate(blocks.pop().unwrap(), node) };
//! assert!(heap.allocate(node).is_some(), "the freed slot is reused");
//!
//! // A double free is detected and ignored.
//! let p = blocks[0];
//! // SAFETY: `p` was allocated with `node`; the second free breaks the contract on purpose,
//! // which the slab detects before writing anything.
//! unsafe {
//!     heap.deallocate(p, node);
//!     heap.deallocate(p, node);
//! }
//! assert_eq!(heap.invalid_frees(), 1);
//! assert!(heap.validate().is_ok());
//! ```

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crate::fault::{self, FaultKind, HeapKind};
use crate::heap::{move_block, Claim, Corruption, Heap};
use crate::sanitize;
use crate::{Region, RegionError};

#[cfg(test)]
mod tests;

/// The size classes and slab size of a [`Slab`], as trait constants (a bad set does not
/// compile).
///
/// Rules, checked at compile time when a `Slab` with this configuration is built:
/// - `SLAB_SIZE` is a power of two from 256 to 65536;
/// - `CLASSES` has 1 to [`MAX_CLASSES`] entries, strictly ascending, each a multiple of 16 and
///   at most [`MAX_CLASS_SIZE`];
/// - every class fits at least two slots in a slab after the header.
///
/// # Examples
///
/// ```
/// use bareheap::slab::SlabConfig;
///
/// /// Only the sizes this firmware allocates, in 512-byte slabs.
/// struct Tiny;
/// impl SlabConfig for Tiny {
///     const SLAB_SIZE: usize = 512;
///     const CLASSES: &'static [usize] = &[16, 32, 64];
/// }
/// let heap: bareheap::Slab<bareheap::Bump, Tiny> = bareheap::Slab::new(bareheap::Bump::new());
/// # let _ = heap;
/// ```
pub trait SlabConfig {
    /// Bytes per slab, and their alignment.
    const SLAB_SIZE: usize;
    /// Slot sizes in bytes, ascending.
    const CLASSES: &'static [usize];
    /// How many empty slabs are kept for reuse (by any class) before spans whose slabs are
    /// all empty go back to the backing heap; [`Slab::set_retain`] changes it at run time.
    const RETAIN: usize = 8;
    /// Slabs carved per call to the backing heap (a *span*, 1 to 64). A span costs one
    /// aligned allocation and at most one alignment hole in the backing heap (a first-fit heap
    /// leaves one before every `SLAB_SIZE`-aligned block), so several slabs per carve waste
    /// less; a span goes back only when all of its slabs are empty. When the backing heap
    /// cannot supply a whole span, smaller ones are tried, down to one slab.
    const SLABS_PER_CARVE: usize = 4;
}

/// The default: 4 KiB slabs, 12 classes from 16 to 1024 bytes, spaced at most 1.5× apart.
#[derive(Debug)]
pub struct DefaultClasses;

impl SlabConfig for DefaultClasses {
    const SLAB_SIZE: usize = 4096;
    const CLASSES: &'static [usize] = &[16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];
    const RETAIN: usize = 64;
}

/// For small firmware heaps: 1 KiB slabs, 8 classes from 16 to 256 bytes.
#[derive(Debug)]
pub struct SmallClasses;

impl SlabConfig for SmallClasses {
    const SLAB_SIZE: usize = 1024;
    const CLASSES: &'static [usize] = &[16, 32, 48, 64, 96, 128, 192, 256];
    const RETAIN: usize = 4;
}

/// The most size classes a [`SlabConfig`] may have.
pub const MAX_CLASSES: usize = 16;
/// The largest slot size a [`SlabConfig`] may have.
pub const MAX_CLASS_SIZE: usize = 2048;

/// Class sizes are multiples of this; the class look-up table has one entry per granule.
const GRANULE: usize = 16;
const LUT_LEN: usize = MAX_CLASS_SIZE / GRANULE + 1;
const NO_CLASS: u8 = u8::MAX;
const WORD_BITS: usize = usize::BITS as usize;
/// Header magic, XORed with the slab's base address (S1): the magic is the complement of
/// the base, which a check computes without loading a constant.
const SLAB_MAGIC: usize = usize::MAX;
/// The end of a free list (S5).
const NO_SLOT: usize = usize::MAX;
/// The `class` of a slab in the pool of empty slabs (S7).
const POOL_CLASS: usize = usize::MAX;
/// The `fresh` of a slab taken out of service after its free list was found corrupted (S2).
const QUARANTINED: usize = usize::MAX;

/// Why a free was refused. The slab wrote nothing when it refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidFree {
    /// The pointer is not inside any live slab (a foreign, stale or pass-through pointer freed
    /// with a slab-class layout).
    NotOwned,
    /// The slot belongs to a class that the layout does not map to.
    WrongClass,
    /// The pointer is inside a slab but not at the start of a slot (interior or misaligned).
    NotSlotStart,
    /// The slot is not allocated: a double free, or a slot never handed out.
    NotAllocated,
    /// A free-list link was found corrupted while allocating (a write after free); the slab's
    /// remaining free slots were abandoned.
    CorruptFreeList,
}

impl InvalidFree {
    /// The same reason in the crate-wide [fault vocabulary](crate::fault::FaultKind).
    pub const fn kind(self) -> FaultKind {
        match self {
            InvalidFree::NotOwned => FaultKind::Outside,
            InvalidFree::WrongClass => FaultKind::WrongClass,
            InvalidFree::NotSlotStart => FaultKind::NotBlockStart,
            InvalidFree::NotAllocated => FaultKind::NotAllocated,
            InvalidFree::CorruptFreeList => FaultKind::CorruptLink,
        }
    }
}

impl fmt::Display for InvalidFree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidFree::NotOwned => "pointer is not in any slab",
            InvalidFree::WrongClass => "layout does not match the slot's size class",
            InvalidFree::NotSlotStart => "pointer is not the start of a slot",
            InvalidFree::NotAllocated => "slot is not allocated (double free)",
            InvalidFree::CorruptFreeList => "corrupted free-list link (write after free)",
        })
    }
}

/// The header at the start of every slab (S1). Followed by the bitmap, `Table::words` words
/// with two bits per slot: `used` (bit `2i`) and `lent` (bit `2i + 1`).
#[repr(C)]
struct SlabHdr {
    /// `SLAB_MAGIC ^ base` while the slab is live.
    magic: usize,
    /// Index of the size class.
    class: usize,
    /// Slots handed out and not freed.
    live: usize,
    /// Slots `fresh..` were never handed out (S4).
    fresh: usize,
    /// Index of the first freed slot (S5), or `NO_SLOT`.
    free: usize,
    prev: *mut SlabHdr,
    next: *mut SlabHdr,
    /// The first slab of the span this slab was carved with (S8).
    span: *mut SlabHdr,
    /// In a span's first slab: how many slabs the span has. 0 in the others.
    span_len: usize,
    /// In a span's first slab: how many of its slabs are in the pool. 0 in the others.
    span_pooled: usize,
    /// In a span's first slab: the neighbours in the list of spans (S9). Null in the others.
    span_prev: *mut SlabHdr,
    span_next: *mut SlabHdr,
}

/// The state of one size class (S2).
#[derive(Clone, Copy)]
struct ClassState {
    /// The slabs with a free slot.
    partial: *mut SlabHdr,
    /// All slabs of the class: partial, full and quarantined.
    slabs: usize,
}

const EMPTY_CLASS: ClassState = ClassState { partial: ptr::null_mut(), slabs: 0 };

/// Derived per-class constants, computed at compile time from a [`SlabConfig`].
struct Table {
    len: usize,
    size: [usize; MAX_CLASSES],
    align: [usize; MAX_CLASSES],
    slots: [usize; MAX_CLASSES],
    /// `ceil(2^32 / size)`: `(n * recip) >> 32 == n / size` for every `n <= SLAB_SIZE`
    /// (the error term `n * (recip * size - 2^32) < 2^16 * 2^11` stays below `2^32`). At most
    /// `2^28` (sizes are at least 16), so one 32 × 32 → 64-bit multiply on 32-bit targets.
    recip: [u32; MAX_CLASSES],
    /// `lut[ceil(size / 16)]` = the smallest class with a slot of at least `size` bytes.
    lut: [u8; LUT_LEN],
    /// Bitmap words: two bits per slot (used, lent).
    words: usize,
    /// Header plus both bitmaps.
    header: usize,
}

impl Table {
    /// Builds and checks the table. Panics (a compile error, as it runs in a constant) on a
    /// configuration that breaks the [`SlabConfig`] rules.
    const fn build(slab_size: usize, classes: &[usize], per_carve: usize) -> Table {
        assert!(per_carve >= 1 && per_carve <= 64, "SlabConfig: SLABS_PER_CARVE must be in 1..=64");
        assert!(
            slab_size.is_power_of_two() && slab_size >= 256 && slab_size <= 65536,
            "SlabConfig: SLAB_SIZE must be a power of two in 256..=65536"
        );
        assert!(
            !classes.is_empty() && classes.len() <= MAX_CLASSES,
            "SlabConfig: CLASSES must have 1..=16 entries"
        );
        let words = (2 * slab_size / GRANULE).div_ceil(WORD_BITS);
        let header = (size_of::<SlabHdr>() + words * size_of::<usize>()).next_multiple_of(16);
        let mut t = Table {
            len: classes.len(),
            size: [0; MAX_CLASSES],
            align: [0; MAX_CLASSES],
            slots: [0; MAX_CLASSES],
            recip: [0; MAX_CLASSES],
            lut: [NO_CLASS; LUT_LEN],
            words,
            header,
        };
        let mut c = 0;
        while c < classes.len() {
            let size = classes[c];
            assert!(
                size >= GRANULE && size % GRANULE == 0 && size <= MAX_CLASS_SIZE,
                "SlabConfig: each class must be a multiple of 16 in 16..=2048"
            );
            assert!(c == 0 || classes[c - 1] < size, "SlabConfig: CLASSES must be ascending");
            let slots = (slab_size - header) / size;
            assert!(slots >= 2, "SlabConfig: every class must fit two slots in a slab");
            t.size[c] = size;
            // Slots are packed against the slab end, which is SLAB_SIZE-aligned (S3).
            t.align[c] = 1 << size.trailing_zeros();
            t.slots[c] = slots;
            t.recip[c] = (1u64 << 32).div_ceil(size as u64) as u32;
            c += 1;
        }
        let mut g = 0;
        let mut c = 0;
        while g < LUT_LEN {
            while c < classes.len() && classes[c] < g * GRANULE {
                c += 1;
            }
            if c < classes.len() {
                t.lut[g] = c as u8;
            }
            g += 1;
        }
        t
    }
}

/// A slab front end over the backing heap `H` (see the [module docs](self)).
pub struct Slab<H, C: SlabConfig = DefaultClasses> {
    backing: H,
    classes: [ClassState; MAX_CLASSES],
    /// Hull of all slabs ever carved (S6); `lo > hi` before the first.
    lo: usize,
    hi: usize,
    /// Empty slabs kept for reuse, linked through `next` (S7).
    pool: *mut SlabHdr,
    pooled: usize,
    /// First slabs of all spans, linked through `span_next` (S9), and their number.
    spans: *mut SlabHdr,
    span_count: usize,
    retain: usize,
    invalid_frees: usize,
    last_invalid: Option<InvalidFree>,
    _config: PhantomData<fn() -> C>,
}

// SAFETY: the raw pointers point into slabs that the `Slab` owns exclusively (S1): they are
// blocks allocated from `backing`, which moves with it.
unsafe impl<H: Send, C: SlabConfig> Send for Slab<H, C> {}

impl<H, C: SlabConfig> Slab<H, C> {
    const TABLE: Table = Table::build(C::SLAB_SIZE, C::CLASSES, C::SLABS_PER_CARVE);
    /// The largest span; its validity is checked at compile time.
    const SPAN_LAYOUT: Layout =
        match Layout::from_size_align(C::SLABS_PER_CARVE * C::SLAB_SIZE, C::SLAB_SIZE) {
            Ok(l) => l,
            Err(_) => panic!("SlabConfig: SLABS_PER_CARVE * SLAB_SIZE is not a valid layout"),
        };
    const MASK: usize = !(C::SLAB_SIZE - 1);
    /// The largest slot size; larger requests pass through.
    const LARGEST: usize = Self::TABLE.size[(Self::TABLE.len - 1) % MAX_CLASSES];

    /// A slab front end over `backing`. No slab is carved until the first allocation.
    ///
    /// # Panics
    ///
    /// Never at run time; an invalid [`SlabConfig`] fails to compile.
    pub const fn new(backing: H) -> Self {
        // Evaluate the checks of the configuration at compile time.
        let _ = Self::TABLE.len;
        let _ = Self::SPAN_LAYOUT;
        Slab {
            backing,
            classes: [EMPTY_CLASS; MAX_CLASSES],
            lo: usize::MAX,
            hi: 0,
            pool: ptr::null_mut(),
            pooled: 0,
            spans: ptr::null_mut(),
            span_count: 0,
            retain: C::RETAIN,
            invalid_frees: 0,
            last_invalid: None,
            _config: PhantomData,
        }
    }

    /// The backing heap.
    pub fn backing(&self) -> &H {
        &self.backing
    }

    /// The slot sizes, ascending.
    pub fn class_sizes(&self) -> &'static [usize] {
        C::CLASSES
    }

    /// Bytes of each slab taken by its header and bitmaps (the first slot starts at or above).
    pub const fn header_size() -> usize {
        Self::TABLE.header
    }

    /// The number of slots in one slab of the class with slot size `size`, if it is a class.
    pub fn slots_per_slab(size: usize) -> Option<usize> {
        let t = &Self::TABLE;
        (0..t.len).find(|&c| t.size[c] == size).map(|c| t.slots[c])
    }

    /// Slabs holding (or ready to hold) objects of some class.
    pub fn slab_count(&self) -> usize {
        self.classes.iter().map(|c| c.slabs).sum()
    }

    /// Empty slabs kept for reuse (at most [`retain`](Self::retain)).
    pub fn pooled_slabs(&self) -> usize {
        self.pooled
    }

    /// How many empty slabs are kept for reuse ([`SlabConfig::RETAIN`] unless changed).
    pub fn retain(&self) -> usize {
        self.retain
    }

    /// The number of frees refused so far (each counted once; saturating).
    pub fn invalid_frees(&self) -> usize {
        self.invalid_frees
    }

    /// Why the most recent free was refused, if any was.
    pub fn last_invalid_free(&self) -> Option<InvalidFree> {
        self.last_invalid
    }

    /// The one place a refused free (or a corrupted link) is reported: counted here, then
    /// passed to the program's [fault handler](crate::fault).
    #[cold]
    fn invalid_free(&mut self, ptr: *mut u8, reason: InvalidFree) {
        self.invalid_frees = self.invalid_frees.saturating_add(1);
        self.last_invalid = Some(reason);
        fault::report(HeapKind::Slab, reason.kind(), ptr.addr());
    }

    /// The class serving `layout`, or `None` for a pass-through request.
    #[inline]
    fn class_for(layout: Layout) -> Option<usize> {
        let t = &Self::TABLE;
        let size = layout.size();
        if size > Self::LARGEST {
            return None;
        }
        // `size <= LARGEST <= MAX_CLASS_SIZE`, so the index is below LUT_LEN and the entry
        // is a class (`Table::build` fills every entry up to the largest class).
        let mut c = usize::from(*t.lut.get(size.div_ceil(GRANULE))?);
        // Every slot is at least 16-aligned (sizes are multiples of 16, S3).
        if layout.align() <= GRANULE {
            return Some(c);
        }
        // Rare: the alignment asks for a larger class (or none).
        while c < t.len && t.align[c % MAX_CLASSES] < layout.align() {
            c += 1;
        }
        (c < t.len).then_some(c)
    }

    /// The slot index at offset `off < SLAB_SIZE` in a slab of class `c`, if it is a slot
    /// start.
    #[inline]
    fn slot_index_in(off: usize, c: usize) -> Option<usize> {
        let t = &Self::TABLE;
        let c = c % MAX_CLASSES;
        // Distance from the pointer to the slab end, in 1..=SLAB_SIZE <= 2^16.
        let from_end = C::SLAB_SIZE - off;
        // Division by the slot size as a multiplication (exact here, see `Table::recip`).
        let q = ((from_end as u64 * t.recip[c] as u64) >> 32) as usize;
        // `q - 1 < slots` also rejects `q == 0` (wrapping).
        let i = q.wrapping_sub(1);
        (q * t.size[c] == from_end && i < t.slots[c]).then_some(i)
    }

    /// The start of slot `i` of a slab of class `c` (S3).
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `c` (S1) and `i < slots(c)`.
    #[inline]
    unsafe fn slot_ptr(hdr: *mut SlabHdr, c: usize, i: usize) -> *mut u8 {
        let off = C::SLAB_SIZE - (i + 1) * Self::TABLE.size[c % MAX_CLASSES];
        // SAFETY: `off < SLAB_SIZE` (S3), inside the slab block of the caller's contract.
        unsafe { hdr.cast::<u8>().add(off) }
    }

    /// The bitmap word holding the bits of slot `i`, and the masks of its `used` and `lent`
    /// bits.
    ///
    /// # Safety
    ///
    /// `hdr` is a slab block of ours (S1) and `i < slots` of its class.
    #[inline]
    unsafe fn bits(hdr: *mut SlabHdr, i: usize) -> (*mut usize, usize, usize) {
        // Two bits per slot: slot `i` is in word `i / (WORD_BITS / 2)` (a shift, with no
        // doubling first: fewer instructions on the hot paths).
        const PER_WORD: usize = WORD_BITS / 2;
        // SAFETY: the bitmap follows the header inside `Table::header` bytes of the slab;
        // `2 * i < 2 * slots <= 2 * SLAB_SIZE / 16 <= words * WORD_BITS`.
        let p = unsafe { hdr.add(1).cast::<usize>().add(i / PER_WORD) };
        let used = 1 << (2 * (i % PER_WORD));
        (p, used, used << 1)
    }

    /// The bitmap word holding the bits of slot `i`, and the position of its `used` bit (its
    /// `lent` bit is the next one up): `(word >> shift) & 3` is `lent << 1 | used`.
    ///
    /// # Safety
    ///
    /// `hdr` is a slab block of ours (S1) and `i < slots` of its class.
    #[inline(always)]
    unsafe fn bit_pos(hdr: *mut SlabHdr, i: usize) -> (*mut usize, usize) {
        const PER_WORD: usize = WORD_BITS / 2;
        // SAFETY: as in `bits`.
        let p = unsafe { hdr.add(1).cast::<usize>().add(i / PER_WORD) };
        (p, 2 * (i % PER_WORD))
    }

    /// ASan builds (`--cfg bareheap_asan`): makes `[p, p + size)` addressable and poisons the
    /// rest of its slot (the slack up to the class size). A no-op otherwise.
    ///
    /// # Safety
    ///
    /// `p` is a live slot of ours, of a class at least `size` bytes.
    unsafe fn expose(p: NonNull<u8>, size: usize) {
        let hdr = p.as_ptr().map_addr(|a| a & Self::MASK).cast::<SlabHdr>();
        // SAFETY: the slab of a live slot is live (S1); its class is a class index (S2).
        let c = unsafe { (&raw const (*hdr).class).read() };
        let slot = Self::TABLE.size[c % MAX_CLASSES];
        // SAFETY: the slot is ours and live: its first `size` bytes are the caller's, the
        // rest is slack no one may touch.
        unsafe {
            sanitize::unpoison(p.as_ptr(), size);
            sanitize::poison(p.as_ptr().wrapping_add(size), slot.saturating_sub(size));
        }
    }

    /// Pushes `hdr` at the head of a list.
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab in no list; `head` is a list of live slabs (S2).
    #[inline]
    unsafe fn push(head: &mut *mut SlabHdr, hdr: *mut SlabHdr) {
        let old = *head;
        // SAFETY: `hdr` is a live slab header (caller), written through raw field pointers.
        unsafe {
            (&raw mut (*hdr).prev).write(ptr::null_mut());
            (&raw mut (*hdr).next).write(old);
        }
        if !old.is_null() {
            // SAFETY: `old` is the head of a list of live slabs (S2).
            unsafe { (&raw mut (*old).prev).write(hdr) };
        }
        *head = hdr;
    }

    /// Takes `hdr`, the first slab of the list `head`, off it.
    ///
    /// # Safety
    ///
    /// `hdr` is the first slab of the list `head` (S2).
    #[inline(always)]
    unsafe fn pop_head(head: &mut *mut SlabHdr, hdr: *mut SlabHdr) {
        // SAFETY: `hdr` is a live slab header (caller).
        let next = unsafe { (&raw const (*hdr).next).read() };
        *head = next;
        if !next.is_null() {
            // SAFETY: `next` follows `hdr` in the same list, a live slab (S2).
            unsafe { (&raw mut (*next).prev).write(ptr::null_mut()) };
        }
    }

    /// Unlinks `hdr` from the list `head`.
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab in the list `head` (S2).
    unsafe fn unlink(head: &mut *mut SlabHdr, hdr: *mut SlabHdr) {
        // SAFETY: `hdr` is a live slab header (caller).
        let (prev, next) =
            unsafe { ((&raw const (*hdr).prev).read(), (&raw const (*hdr).next).read()) };
        if prev.is_null() {
            *head = next;
        } else {
            // SAFETY: `prev` is `hdr`'s neighbour in the same list, a live slab (S2).
            unsafe { (&raw mut (*prev).next).write(next) };
        }
        if !next.is_null() {
            // SAFETY: as above for `next`.
            unsafe { (&raw mut (*next).prev).write(prev) };
        }
    }
}

impl<H: Heap, C: SlabConfig> Slab<H, C> {
    /// Gives back to the backing heap every span whose slabs are all empty, after pooling the
    /// empty slab each class keeps (S10). Returns how many slabs were given back.
    ///
    /// # Time complexity
    ///
    /// O(pooled slabs × spans given back).
    pub fn trim(&mut self) -> usize {
        self.pool_kept_slabs();
        self.release_pooled_spans(0)
    }

    /// Pools the empty slab that each class with no other slab keeps (S10); returns how
    /// many were pooled.
    ///
    /// # Time complexity
    ///
    /// O(classes).
    fn pool_kept_slabs(&mut self) -> usize {
        let mut pooled = 0;
        for c in 0..Self::TABLE.len {
            let class = &mut self.classes[c % MAX_CLASSES];
            let hdr = class.partial;
            // S10: an empty slab on a partial list is the only slab of its class.
            // SAFETY: a non-null partial head is a live slab header (S2).
            if class.slabs != 1 || hdr.is_null() || unsafe { (&raw const (*hdr).live).read() } != 0
            {
                continue;
            }
            // SAFETY: `hdr` heads the partial list of `c`.
            unsafe { Self::pop_head(&mut class.partial, hdr) };
            class.slabs = 0;
            // SAFETY: `hdr` is our empty slab (live 0, so no bit set: S4), now in no list.
            unsafe { self.pool_push(hdr) };
            pooled += 1;
        }
        pooled
    }

    /// Sets how many empty slabs are kept for reuse: pools the empty slab each class keeps
    /// (S10), then gives back fully pooled spans while more than `retain` slabs are pooled.
    pub fn set_retain(&mut self, retain: usize) {
        self.retain = retain;
        self.pool_kept_slabs();
        self.release_pooled_spans(retain);
    }

    /// Gives back fully pooled spans while more than `keep` slabs are pooled; returns the
    /// number of slabs given back.
    fn release_pooled_spans(&mut self, keep: usize) -> usize {
        let mut released = 0;
        let mut hdr = self.pool;
        let mut steps = self.pooled;
        while !hdr.is_null() && self.pooled > keep && steps > 0 {
            steps -= 1;
            // SAFETY: pooled slabs are our slab blocks with a valid header (S7, S8).
            let (next, head) =
                unsafe { ((&raw const (*hdr).next).read(), (&raw const (*hdr).span).read()) };
            // SAFETY: `head` is the first slab of `hdr`'s span (S8).
            match unsafe { self.release_span_if_pooled(head) } {
                0 => hdr = next,
                n => {
                    released += n;
                    // The span's slabs left the pool, `next` perhaps with them: start over.
                    hdr = self.pool;
                    steps = self.pooled;
                }
            }
        }
        released
    }

    /// Pushes an empty slab onto the pool (S7).
    ///
    /// # Safety
    ///
    /// `hdr` is a slab of ours (S1, S8) in no list.
    unsafe fn pool_push(&mut self, hdr: *mut SlabHdr) {
        // S7: a pooled slab belongs to no class, so a stale free into it is refused.
        // SAFETY: caller contract.
        unsafe { (&raw mut (*hdr).class).write(POOL_CLASS) };
        // SAFETY: `hdr` is in no list; the pool holds slabs of ours (S7).
        unsafe { Self::push(&mut self.pool, hdr) };
        self.pooled += 1;
        // SAFETY: `span` is the first slab of `hdr`'s span, a slab of ours (S8).
        unsafe {
            let head = (&raw const (*hdr).span).read();
            let n = (&raw const (*head).span_pooled).read();
            (&raw mut (*head).span_pooled).write(n + 1);
        }
    }

    /// Unlinks a slab from the pool (S7).
    ///
    /// # Safety
    ///
    /// `hdr` is in the pool.
    unsafe fn pool_unlink(&mut self, hdr: *mut SlabHdr) {
        // SAFETY: caller contract.
        unsafe { Self::unlink(&mut self.pool, hdr) };
        self.pooled -= 1;
        // SAFETY: as in `pool_push`; the count was at least 1 for this pooled slab (S8).
        unsafe {
            let head = (&raw const (*hdr).span).read();
            let n = (&raw const (*head).span_pooled).read();
            (&raw mut (*head).span_pooled).write(n - 1);
        }
    }

    /// Puts the first slab of a new span at the head of the span list (S9).
    ///
    /// # Safety
    ///
    /// `head` is the first slab of a span of ours, in no span list.
    unsafe fn span_link(&mut self, head: *mut SlabHdr) {
        let old = self.spans;
        // SAFETY: `head` is a slab header of ours (caller).
        unsafe {
            (&raw mut (*head).span_prev).write(ptr::null_mut());
            (&raw mut (*head).span_next).write(old);
        }
        if !old.is_null() {
            // SAFETY: `old` heads the span list, so it is a span's first slab (S9).
            unsafe { (&raw mut (*old).span_prev).write(head) };
        }
        self.spans = head;
        self.span_count += 1;
    }

    /// Takes the first slab of a span off the span list (S9).
    ///
    /// # Safety
    ///
    /// `head` is on the span list.
    unsafe fn span_unlink(&mut self, head: *mut SlabHdr) {
        // SAFETY: caller contract.
        let (prev, next) = unsafe {
            ((&raw const (*head).span_prev).read(), (&raw const (*head).span_next).read())
        };
        if prev.is_null() {
            self.spans = next;
        } else {
            // SAFETY: `prev` is `head`'s neighbour on the span list (S9).
            unsafe { (&raw mut (*prev).span_next).write(next) };
        }
        if !next.is_null() {
            // SAFETY: as above for `next`.
            unsafe { (&raw mut (*next).span_prev).write(prev) };
        }
        self.span_count -= 1;
    }

    /// Takes a slab off the pool of empty slabs (S7).
    fn pop_pool(&mut self) -> Option<*mut SlabHdr> {
        let hdr = self.pool;
        if hdr.is_null() {
            return None;
        }
        // SAFETY: `hdr` is the head of the pool.
        unsafe { self.pool_unlink(hdr) };
        Some(hdr)
    }

    /// Gives the span starting at `head` back to the backing heap if all its slabs are
    /// pooled. Returns the number of slabs given back (0 if the span is still in use).
    ///
    /// # Safety
    ///
    /// `head` is the first slab of a span of ours (S8).
    unsafe fn release_span_if_pooled(&mut self, head: *mut SlabHdr) -> usize {
        // SAFETY: caller contract.
        let (len, pooled) = unsafe {
            ((&raw const (*head).span_len).read(), (&raw const (*head).span_pooled).read())
        };
        if pooled != len {
            return 0;
        }
        for k in 0..len {
            // SAFETY: slab `k < len` of the span lies inside its block (S8).
            let slab = unsafe { head.byte_add(k * C::SLAB_SIZE) };
            // SAFETY: every slab of the span is pooled (`span_pooled == span_len`).
            unsafe { self.pool_unlink(slab) };
            // A stale pointer into the returned block must not pass the magic check (S1).
            // SAFETY: our block until the deallocation below.
            unsafe { (&raw mut (*slab).magic).write(0) };
        }
        // SAFETY: `head` is the first slab of a live span, so it is on the span list (S9).
        unsafe { self.span_unlink(head) };
        // SAFETY: the span is ours until the deallocation below; the backing heap poisons what
        // it does not use itself.
        unsafe { sanitize::unpoison(head.cast::<u8>(), len * C::SLAB_SIZE) };
        if let Ok(layout) = Layout::from_size_align(len * C::SLAB_SIZE, C::SLAB_SIZE) {
            // SAFETY: `head` is the base of a block allocated from `backing` with this layout
            // when the span was carved (S8).
            unsafe { self.backing.deallocate(NonNull::new_unchecked(head.cast()), layout) };
        }
        len
    }

    /// Carves a new span from the backing heap (as large as it can supply, up to
    /// `SLABS_PER_CARVE` slabs) and puts its slabs on the pool.
    #[inline(never)]
    fn carve_span(&mut self) -> bool {
        let mut n = C::SLABS_PER_CARVE;
        while n > 0 {
            let block = Layout::from_size_align(n * C::SLAB_SIZE, C::SLAB_SIZE)
                .ok()
                .and_then(|layout| Some((self.backing.allocate(layout)?, layout)));
            let Some((block, layout)) = block else {
                n /= 2;
                continue;
            };
            let base = block.as_ptr().addr();
            if base & !Self::MASK != 0 {
                // A backing heap that breaks its alignment promise gets its block back.
                // SAFETY: `block` was just allocated from `backing` with `layout`.
                unsafe { self.backing.deallocate(block, layout) };
                return false;
            }
            self.lo = self.lo.min(base);
            // `base + len` is the end of an allocated block: no overflow.
            self.hi = self.hi.max(base.wrapping_add(layout.size()));
            let head = block.as_ptr().cast::<SlabHdr>();
            for k in 0..n {
                // SAFETY: slab `k < n` lies inside the new block; each slab is SLAB_SIZE bytes
                // and SLAB_SIZE-aligned, and its header fits (S1, S8).
                unsafe {
                    let slab = head.byte_add(k * C::SLAB_SIZE);
                    slab.write(SlabHdr {
                        magic: SLAB_MAGIC ^ slab.addr(),
                        class: POOL_CLASS,
                        live: 0,
                        fresh: 0,
                        free: NO_SLOT,
                        prev: ptr::null_mut(),
                        next: ptr::null_mut(),
                        span: head,
                        span_len: if k == 0 { n } else { 0 },
                        span_pooled: 0,
                        span_prev: ptr::null_mut(),
                        span_next: ptr::null_mut(),
                    });
                    self.pool_push(slab);
                }
            }
            // SAFETY: `head` is the first slab of the new span, in no span list yet.
            unsafe { self.span_link(head) };
            return true;
        }
        false
    }

    /// Sets up a slab for class `c`, from the pool of empty slabs (carving a new span into it
    /// when it is empty), and puts it on the partial list.
    fn carve(&mut self, c: usize) -> Option<*mut SlabHdr> {
        // The backing heap is asked first; the slabs that classes keep empty (S10) are the
        // last resort before lending (class `c` keeps none: its partial list is empty).
        if self.pool.is_null() && !self.carve_span() && self.pool_kept_slabs() == 0 {
            return None;
        }
        let hdr = self.pop_pool()?;
        // SAFETY: `hdr` came off the pool: a slab of ours in no list (S7, S8); the header and
        // bitmap fit in `Table::header < SLAB_SIZE` bytes. The span fields are kept.
        unsafe {
            (&raw mut (*hdr).class).write(c);
            (&raw mut (*hdr).live).write(0);
            (&raw mut (*hdr).fresh).write(0);
            (&raw mut (*hdr).free).write(NO_SLOT);
        }
        // SAFETY: as above; the bitmap (`words` words) follows the header (S4: all clear).
        unsafe { hdr.add(1).cast::<usize>().write_bytes(0, Self::TABLE.words) };
        // SAFETY: everything past the header and bitmap is slot space of this slab of ours,
        // none of it handed out: poisoned until a slot is (the link words of a previous
        // class's free slots included).
        unsafe {
            let slots = hdr.cast::<u8>().wrapping_add(Self::TABLE.header);
            sanitize::poison(slots, C::SLAB_SIZE - Self::TABLE.header);
        }
        let class = &mut self.classes[c % MAX_CLASSES];
        // SAFETY: `hdr` is a fresh live slab in no list.
        unsafe { Self::push(&mut class.partial, hdr) };
        class.slabs += 1;
        Some(hdr)
    }

    /// Takes an empty slab of class `c` off the partial list (unless it is quarantined,
    /// hence on no list) and pools it; when more than `retain` slabs are pooled and its
    /// whole span is now empty, gives the span back. The only slab of a class is kept
    /// instead while the pool has room (S10).
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `c` with `live == 0`, on the partial list or
    /// quarantined (S2).
    #[inline(never)]
    unsafe fn retire(&mut self, hdr: *mut SlabHdr, c: usize) {
        let class = &mut self.classes[c % MAX_CLASSES];
        // SAFETY: live slab header (caller).
        if unsafe { (&raw const (*hdr).fresh).read() } != QUARANTINED {
            if class.slabs == 1 && self.pooled < self.retain {
                // S10: the only slab of its class stays on the partial list, empty, so that
                // a class that drains and refills (a tree dropped and rebuilt) does not
                // pool and set up a slab every time. Only while the pool has room: with
                // `retain == 0` every empty slab goes back at once. (Decided here, out of
                // line: inlined into the free path it cost that path two instructions.)
                return;
            }
            // SAFETY: caller contract: not quarantined, so on the partial list.
            unsafe { Self::unlink(&mut class.partial, hdr) };
        }
        class.slabs -= 1;
        // SAFETY: `hdr` is our slab, now in no list.
        unsafe { self.pool_push(hdr) };
        if self.pooled > self.retain {
            // SAFETY: `span` is the first slab of `hdr`'s span (S8).
            unsafe {
                let head = (&raw const (*hdr).span).read();
                self.release_span_if_pooled(head);
            }
        }
    }

    /// Takes a free slot from the partial slab `hdr` of class `sc`. `None` if its free list
    /// turned out to be corrupted and it has no fresh slot left (the slab is then
    /// quarantined, S2).
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `sc`, the first on its partial list.
    #[inline(always)]
    unsafe fn take_slot(
        &mut self,
        hdr: *mut SlabHdr,
        sc: usize,
        lent: bool,
    ) -> Option<NonNull<u8>> {
        let slots = Self::TABLE.slots[sc % MAX_CLASSES];
        // SAFETY: `hdr` is a live slab header (caller).
        let free = unsafe { (&raw const (*hdr).free).read() };
        // The slot's bitmap word is read once and written once on either path: reading it
        // again after the header store below would cost a reload (the compiler cannot tell
        // that the two do not alias).
        let (slot, w, word, set) = if free < slots {
            // Links are slot indices: the bounds check above keeps a corrupted link inside
            // the slab, and the used bit shows a slot that is not free (catalogue C5).
            // SAFETY: `free < slots(sc)`.
            let (w, used, lent_bit) = unsafe { Self::bits(hdr, free) };
            // SAFETY: `w` is a bitmap word of the live slab.
            let word = unsafe { w.read() };
            if word & used != 0 {
                // SAFETY: forwarded caller contract.
                return unsafe { self.corrupt_free_list(hdr, sc, lent) };
            }
            // SAFETY: `free < slots(sc)`.
            let slot = unsafe { Self::slot_ptr(hdr, sc, free) };
            // SAFETY: a free slot's first word holds the next link (S5); slots are 16-aligned.
            let next = unsafe { slot.cast::<usize>().read() };
            // SAFETY: live slab header.
            unsafe { (&raw mut (*hdr).free).write(next) };
            (slot, w, word, if lent { used | lent_bit } else { used })
        } else if free == NO_SLOT {
            // SAFETY: live slab header.
            let fresh = unsafe { (&raw const (*hdr).fresh).read() };
            if fresh >= slots {
                // A partial slab always has a free or a fresh slot (S2, S4, S5); only a
                // corrupted header gets here.
                // SAFETY: forwarded caller contract.
                return unsafe { self.corrupt_free_list(hdr, sc, lent) };
            }
            // SAFETY: live slab header.
            unsafe { (&raw mut (*hdr).fresh).write(fresh + 1) };
            // SAFETY: `fresh < slots(sc)`.
            let (w, used, lent_bit) = unsafe { Self::bits(hdr, fresh) };
            // SAFETY: `w` is a bitmap word of the live slab.
            let word = unsafe { w.read() };
            // SAFETY: `fresh < slots(sc)`.
            let slot = unsafe { Self::slot_ptr(hdr, sc, fresh) };
            (slot, w, word, if lent { used | lent_bit } else { used })
        } else {
            // SAFETY: forwarded caller contract.
            return unsafe { self.corrupt_free_list(hdr, sc, lent) };
        };
        // SAFETY: bitmap word of the live slab (S4: mark handed out).
        unsafe { w.write(word | set) };
        // SAFETY: live slab header.
        let live = unsafe { (&raw const (*hdr).live).read() } + 1;
        // SAFETY: live slab header.
        unsafe { (&raw mut (*hdr).live).write(live) };
        if live == slots {
            // S2: a full slab leaves the partial list and is on none until a slot is freed.
            let class = &mut self.classes[sc % MAX_CLASSES];
            // SAFETY: `hdr` is the first slab on the partial list of `sc` (caller).
            unsafe { Self::pop_head(&mut class.partial, hdr) };
        }
        // Slot pointers are derived from the slab block's pointer, so they keep its provenance.
        // SAFETY: `slot` lies inside the slab block (S3), which does not start at null.
        Some(unsafe { NonNull::new_unchecked(slot) })
    }

    /// The free list of the partial slab `hdr` of class `sc` is corrupted (a write after
    /// free): reports it, abandons the list, and serves a fresh slot if one is left;
    /// otherwise quarantines the slab (S2: on no list, so no allocation looks at it; frees
    /// into it still work, it is pooled when it empties, and `validate` reports it until
    /// then) and returns `None`.
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `sc`, the first on its partial list.
    #[cold]
    #[inline(never)]
    unsafe fn corrupt_free_list(
        &mut self,
        hdr: *mut SlabHdr,
        sc: usize,
        lent: bool,
    ) -> Option<NonNull<u8>> {
        self.invalid_free(hdr.cast(), InvalidFree::CorruptFreeList);
        // SAFETY: live slab header; the rest of the list is abandoned.
        unsafe { (&raw mut (*hdr).free).write(NO_SLOT) };
        let slots = Self::TABLE.slots[sc % MAX_CLASSES];
        // SAFETY: live slab header.
        let fresh = unsafe { (&raw const (*hdr).fresh).read() };
        if fresh < slots {
            // SAFETY: caller contract; the free list is now empty, so the fresh path runs.
            return unsafe { self.take_slot(hdr, sc, lent) };
        }
        let class = &mut self.classes[sc % MAX_CLASSES];
        // SAFETY: `hdr` is the first slab on the partial list of `sc` (caller).
        unsafe { Self::pop_head(&mut class.partial, hdr) };
        // SAFETY: live slab header; `fresh` is reset when the slab is set up again (`carve`).
        unsafe { (&raw mut (*hdr).fresh).write(QUARANTINED) };
        None
    }

    /// Allocates a slot of class `c` for `layout`.
    #[inline(always)]
    fn allocate_small(&mut self, c: usize, layout: Layout) -> Option<NonNull<u8>> {
        let hdr = self.classes[c % MAX_CLASSES].partial;
        if !hdr.is_null() {
            // SAFETY: `hdr` is on the partial list of class `c`.
            if let Some(p) = unsafe { self.take_slot(hdr, c, false) } {
                return Some(p);
            }
        }
        self.allocate_small_slow(c, layout)
    }

    /// No partial slab, or the first one had a corrupted free list.
    #[inline(never)]
    fn allocate_small_slow(&mut self, c: usize, layout: Layout) -> Option<NonNull<u8>> {
        // A slab whose free list is found corrupted is retired and the next one tried; two
        // attempts bound the work.
        for _ in 0..2 {
            let mut hdr = self.classes[c % MAX_CLASSES].partial;
            if hdr.is_null() {
                match self.carve(c) {
                    Some(h) => hdr = h,
                    None => return self.allocate_lent(c, layout),
                }
            }
            // SAFETY: `hdr` is on the partial list of class `c`.
            if let Some(p) = unsafe { self.take_slot(hdr, c, false) } {
                return Some(p);
            }
        }
        None
    }

    /// The backing heap has no room for a new slab of class `c`: lend a slot of a larger class
    /// that fits `layout` and has one free (catalogue J2, exhaustion).
    #[cold]
    fn allocate_lent(&mut self, c: usize, layout: Layout) -> Option<NonNull<u8>> {
        let t = &Self::TABLE;
        for bigger in c + 1..t.len {
            let hdr = self.classes[bigger % MAX_CLASSES].partial;
            if !hdr.is_null() && t.align[bigger % MAX_CLASSES] >= layout.align() {
                // SAFETY: `hdr` is on the partial list of class `bigger`.
                return unsafe { self.take_slot(hdr, bigger, true) };
            }
        }
        None
    }

    /// Frees a slot that `layout` maps to class `c`, after checking it (J2, C1-C3).
    ///
    /// # Safety
    ///
    /// None beyond `Heap::deallocate`'s; a pointer that breaks that contract is detected as
    /// documented in the module docs.
    #[inline(always)]
    unsafe fn deallocate_small(&mut self, ptr: NonNull<u8>, c: usize) {
        let addr = ptr.as_ptr().addr();
        let base = addr & Self::MASK;
        // S6: never read outside memory that has held a slab (C2). One unsigned comparison
        // checks both bounds (before the first slab, `hi - lo` wraps to 1 and nothing passes).
        if base.wrapping_sub(self.lo) >= self.hi.wrapping_sub(self.lo) {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotOwned);
        }
        let hdr = ptr.as_ptr().with_addr(base).cast::<SlabHdr>();
        // SAFETY: `base` is SLAB_SIZE-aligned inside the hull of carved slabs, i.e. inside
        // memory the backing heap handed out as a slab (S6), so this word is readable; it is
        // only trusted if it holds this slab's magic (S1).
        let magic = unsafe { (&raw const (*hdr).magic).read() };
        if magic != SLAB_MAGIC ^ base {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotOwned);
        }
        // SAFETY: the magic matches, so `hdr` is a live slab header (S1).
        let sc = unsafe { (&raw const (*hdr).class).read() };
        if sc != c {
            // SAFETY: forwarded; `hdr` is the live slab header of `ptr`'s slab.
            return unsafe { self.deallocate_lent(ptr, hdr, sc, c) };
        }
        let Some(i) = Self::slot_index_in(addr & !Self::MASK, c) else {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotSlotStart);
        };
        // SAFETY: `i < slots(c)`.
        let (w, shift) = unsafe { Self::bit_pos(hdr, i) };
        // SAFETY: bitmap word of the live slab.
        let word = unsafe { w.read() };
        // Handed out (used) to its own class (not lent): the bit pair reads 0b01.
        let pair = (word >> shift) & 3;
        if pair != 1 {
            let reason =
                if pair & 1 == 0 { InvalidFree::NotAllocated } else { InvalidFree::WrongClass };
            return self.invalid_free(ptr.as_ptr(), reason);
        }
        // SAFETY: all checks passed for slot `i` of the live slab `hdr` of class `c`.
        unsafe { self.free_slot(hdr, ptr, i, w, word ^ (1 << shift), c) };
    }

    /// A free whose layout maps to class `c` of a pointer in a slab of class `sc != c`: valid
    /// only for a slot lent to a smaller class (J2 exhaustion fallback).
    ///
    /// # Safety
    ///
    /// `hdr` is the live slab header (magic checked) of the slab `ptr` points into.
    #[cold]
    unsafe fn deallocate_lent(&mut self, ptr: NonNull<u8>, hdr: *mut SlabHdr, sc: usize, c: usize) {
        if sc >= Self::TABLE.len {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotOwned);
        }
        let Some(i) = Self::slot_index_in(ptr.as_ptr().addr() & !Self::MASK, sc) else {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotSlotStart);
        };
        // SAFETY: `i < slots(sc)`.
        let (w, used_m, lent_m) = unsafe { Self::bits(hdr, i) };
        // SAFETY: bitmap word of the live slab.
        let word = unsafe { w.read() };
        if word & used_m == 0 {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotAllocated);
        }
        // A lent slot serves a smaller class; anything else is a wrong-class free.
        if word & lent_m == 0 || sc < c {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::WrongClass);
        }
        // SAFETY: all checks passed for slot `i` of the live slab `hdr` of class `sc`.
        unsafe { self.free_slot(hdr, ptr, i, w, word & !(used_m | lent_m), sc) };
    }

    /// Puts checked slot `i` back: writes its bitmap word, links it, updates the lists.
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `sc`, `ptr` its slot `i`, currently allocated, `w` the
    /// slot's bitmap word and `word` its new value (the slot's bits cleared).
    #[inline(always)]
    unsafe fn free_slot(
        &mut self,
        hdr: *mut SlabHdr,
        ptr: NonNull<u8>,
        i: usize,
        w: *mut usize,
        word: usize,
        sc: usize,
    ) {
        // SAFETY: bitmap word of the live slab.
        unsafe { w.write(word) };
        // SAFETY: live slab header.
        let free = unsafe { (&raw const (*hdr).free).read() };
        if sanitize::ACTIVE {
            // The link word stays addressable (the slab reads it when it hands the slot out
            // again); the rest of the slot is poisoned while it is free.
            let size = Self::TABLE.size[sc % MAX_CLASSES];
            const LINK: usize = size_of::<usize>();
            // SAFETY: slot `i` of this slab, `size >= 16` bytes, ours while it is free.
            unsafe {
                sanitize::unpoison(ptr.as_ptr(), LINK);
                sanitize::poison(ptr.as_ptr().wrapping_add(LINK), size - LINK);
            }
        }
        // SAFETY: `ptr` is slot `i` of this slab, allocated until now and 16-aligned: it
        // becomes the free-list head and stores the old head's index (S5).
        unsafe { ptr.as_ptr().cast::<usize>().write(free) };
        // SAFETY: live slab header.
        unsafe { (&raw mut (*hdr).free).write(i) };
        // SAFETY: live slab header; `live >= 1` since slot `i` was handed out (S4).
        let live = unsafe { (&raw const (*hdr).live).read() } - 1;
        // SAFETY: live slab header.
        unsafe { (&raw mut (*hdr).live).write(live) };
        if live + 1 == Self::TABLE.slots[sc % MAX_CLASSES] {
            // S2: the slab was full, on no list; now it has a free slot. (A quarantined
            // slab never gets here: it was not full when it was taken out of service.)
            let class = &mut self.classes[sc % MAX_CLASSES];
            // SAFETY: `hdr` is a live slab in no list.
            unsafe { Self::push(&mut class.partial, hdr) };
        }
        if live == 0 {
            // SAFETY: an empty live slab of class `sc`, partial or quarantined (S2).
            unsafe { self.retire(hdr, sc) };
        }
    }

    /// Reads the header of the slab at `hdr` after checking that it lies in the hull of
    /// carved slabs, is aligned, and has its magic (S1, S6).
    fn read_header(&self, hdr: *mut SlabHdr) -> Result<SlabHdr, Corruption> {
        let base = hdr.addr();
        let err = |what| Err(Corruption { what, addr: base });
        if base & !Self::MASK != 0 || base < self.lo || base >= self.hi {
            return err("S6: slab outside the hull of carved slabs or misaligned");
        }
        // SAFETY: `base` is SLAB_SIZE-aligned inside the hull of carved slabs, so the header
        // lies in memory that held a slab (S6); it is trusted only with its magic.
        let h = unsafe { hdr.read() };
        if h.magic != SLAB_MAGIC ^ base {
            return err("S1: slab header magic mismatch");
        }
        Ok(h)
    }

    /// Checks one slab of class `c` (S1, S3-S5, S8).
    fn validate_slab(&self, hdr: *mut SlabHdr, c: usize) -> Result<(), Corruption> {
        let t = &Self::TABLE;
        let base = hdr.addr();
        let err = |what| Err(Corruption { what, addr: base });
        let h = self.read_header(hdr)?;
        if h.class != c {
            return err("S2: slab of another class");
        }
        self.validate_span(hdr, &h)?;
        if h.fresh == QUARANTINED {
            return err("S2: slab quarantined after a corrupted free list (write after free)");
        }
        let slots = t.slots[c % MAX_CLASSES];
        if h.fresh > slots || h.live > h.fresh {
            return err("S4: live or fresh count out of range");
        }
        let mut used_count = 0;
        for i in 0..slots {
            // SAFETY: `i < slots(c)`.
            let (w, um, lm) = unsafe { Self::bits(hdr, i) };
            // SAFETY: bitmap word of a live slab.
            let word = unsafe { w.read() };
            let (u, l) = (word & um != 0, word & lm != 0);
            if l && !u {
                return err("S4: lent bit set on a free slot");
            }
            if u && i >= h.fresh {
                return err("S4: used bit set beyond fresh");
            }
            used_count += usize::from(u);
        }
        if used_count != h.live {
            return err("S4: used bitmap disagrees with the live count");
        }
        let mut i = h.free;
        let mut listed = 0;
        while i != NO_SLOT {
            if listed >= slots {
                return err("S5: free list longer than the slab (cycle)");
            }
            if i >= slots {
                return err("S5: free-list link is not a slot of this slab");
            }
            // SAFETY: `i < slots(c)`.
            let (w, um, _) = unsafe { Self::bits(hdr, i) };
            // SAFETY: bitmap word of a live slab.
            if unsafe { w.read() } & um != 0 || i >= h.fresh {
                return err("S5: allocated or never-used slot on the free list");
            }
            listed += 1;
            // SAFETY: `i < slots(c)`; a free slot's first word is the next link (S5).
            i = unsafe { Self::slot_ptr(hdr, c, i).cast::<usize>().read() };
        }
        if listed + h.live != h.fresh {
            return err("S5: free list misses freed slots");
        }
        Ok(())
    }

    /// Checks the span fields of the slab at `hdr`, whose header `h` was read (S8).
    fn validate_span(&self, hdr: *mut SlabHdr, h: &SlabHdr) -> Result<(), Corruption> {
        let err = |what| Err(Corruption { what, addr: hdr.addr() });
        let head = h.span;
        let start = head.addr();
        if start & !Self::MASK != 0 || start < self.lo || start >= self.hi || start > hdr.addr() {
            return err("S8: span head outside the hull, misaligned or above the slab");
        }
        // SAFETY: `head` is SLAB_SIZE-aligned inside the hull (S6), so its header is readable.
        let head_h = unsafe { head.read() };
        if head_h.magic != SLAB_MAGIC ^ start || head_h.span != head {
            return err("S8: span head header damaged");
        }
        let len = head_h.span_len;
        if len == 0 || len > C::SLABS_PER_CARVE || head_h.span_pooled > len {
            return err("S8: span length or pooled count out of range");
        }
        if (hdr.addr() - start) / C::SLAB_SIZE >= len {
            return err("S8: slab outside its span");
        }
        Ok(())
    }

    /// Walks the pool of empty slabs (S7, S8).
    fn validate_pool(&self) -> Result<(), Corruption> {
        let mut hdr = self.pool;
        let mut prev = ptr::null_mut();
        let mut n = 0;
        while !hdr.is_null() {
            let base = hdr.addr();
            let err = |what| Err(Corruption { what, addr: base });
            if n >= self.pooled {
                return err("S7: more slabs in the pool than counted");
            }
            if base & !Self::MASK != 0 || base < self.lo || base >= self.hi {
                return err("S6: pooled slab outside the hull of carved slabs or misaligned");
            }
            // SAFETY: the hull check keeps the read inside memory that held slabs; the pool
            // links pooled slab headers (S7).
            let h = unsafe { hdr.read() };
            if h.magic != SLAB_MAGIC ^ base || h.class != POOL_CLASS || h.prev != prev {
                return err("S7: pooled slab header damaged");
            }
            self.validate_span(hdr, &h)?;
            n += 1;
            prev = hdr;
            hdr = h.next;
        }
        if n != self.pooled {
            return Err(Corruption { what: "S7: pool count wrong", addr: 0 });
        }
        Ok(())
    }

    /// Walks the partial list of class `c`; returns its length (S2).
    fn validate_partial(&self, c: usize) -> Result<usize, Corruption> {
        let slots = Self::TABLE.slots[c % MAX_CLASSES];
        let mut hdr = self.classes[c % MAX_CLASSES].partial;
        let mut prev = ptr::null_mut();
        let mut n = 0;
        while !hdr.is_null() {
            let err = |what| Err(Corruption { what, addr: hdr.addr() });
            if n >= self.classes[c % MAX_CLASSES].slabs {
                return err("S2: more slabs on a partial list than counted");
            }
            let h = self.read_header(hdr)?;
            if h.class != c || h.prev != prev {
                return err("S2: partial list links a slab of another class, or a broken link");
            }
            if h.live >= slots || h.fresh == QUARANTINED {
                return err("S2: full or quarantined slab on the partial list");
            }
            prev = hdr;
            hdr = h.next;
            n += 1;
        }
        Ok(n)
    }

    /// Walks the span list and every slab of every span: checks each slab of a class
    /// (S1, S3-S5), the span fields (S8, S9) and the pooled counts (S7). Returns, per class,
    /// the slabs found and how many of them have a free slot.
    #[allow(clippy::type_complexity)]
    fn validate_spans(&self) -> Result<([usize; MAX_CLASSES], [usize; MAX_CLASSES]), Corruption> {
        let t = &Self::TABLE;
        let (mut total, mut open) = ([0; MAX_CLASSES], [0; MAX_CLASSES]);
        let (mut head, mut prev, mut n, mut pooled) = (self.spans, ptr::null_mut(), 0, 0);
        while !head.is_null() {
            let err = |what| Err(Corruption { what, addr: head.addr() });
            if n >= self.span_count {
                return err("S9: more spans on the list than counted");
            }
            let h = self.read_header(head)?;
            if h.span != head || h.span_prev != prev {
                return err("S9: span list links a slab that is not a span head, or a broken link");
            }
            self.validate_span(head, &h)?;
            let mut span_pooled = 0;
            for k in 0..h.span_len {
                // Inside the span's block (`span_len <= SLABS_PER_CARVE`, S8); `read_header`
                // checks the hull before reading.
                let slab = head.wrapping_byte_add(k * C::SLAB_SIZE);
                let sh = self.read_header(slab)?;
                if sh.span != head {
                    return Err(Corruption {
                        what: "S8: slab of a span names another head",
                        addr: slab.addr(),
                    });
                }
                if sh.class == POOL_CLASS {
                    span_pooled += 1;
                    continue;
                }
                let c = sh.class;
                if c >= t.len {
                    return Err(Corruption {
                        what: "S2: slab of a class that does not exist",
                        addr: slab.addr(),
                    });
                }
                self.validate_slab(slab, c)?;
                if sh.live == 0 && self.classes[c % MAX_CLASSES].slabs != 1 {
                    return Err(Corruption {
                        what: "S10: empty slab in a class with other slabs",
                        addr: slab.addr(),
                    });
                }
                total[c % MAX_CLASSES] += 1;
                open[c % MAX_CLASSES] += usize::from(sh.live < t.slots[c % MAX_CLASSES]);
            }
            if span_pooled != h.span_pooled {
                return err("S8: pooled count of a span is wrong");
            }
            pooled += span_pooled;
            prev = head;
            head = h.span_next;
            n += 1;
        }
        if n != self.span_count {
            return Err(Corruption { what: "S9: span count wrong", addr: 0 });
        }
        if pooled != self.pooled {
            return Err(Corruption {
                what: "S7: pooled slabs in spans disagree with the pool count",
                addr: 0,
            });
        }
        Ok((total, open))
    }
}

impl<H: Default, C: SlabConfig> Default for Slab<H, C> {
    /// A slab front end over `H::default()`.
    fn default() -> Self {
        Slab::new(H::default())
    }
}

impl<H: Claim, C: SlabConfig> Claim for Slab<H, C> {
    /// Gives `region` to the backing heap.
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        self.backing.claim(region)
    }
}

// SAFETY: slab-class blocks are distinct slots (S3, S4: a slot is handed out only while its
// used bit is clear and the bit is set until it is freed) of live slabs whose span stays
// allocated from `backing` while any of its slabs is out of the pool (S1, S8). A slot
// is at least `layout.size()` bytes and aligned to `layout.align()` by `class_for` (a lent slot
// comes from a larger class with sufficient alignment). Pass-through blocks are `backing`'s,
// which never overlap its slabs. Nothing panics: class indices are reduced modulo MAX_CLASSES,
// arithmetic is checked or bounded by the compile-time table.
unsafe impl<H: Heap, C: SlabConfig> Heap for Slab<H, C> {
    /// # Time complexity
    ///
    /// O(1) for slab classes (plus one call to the backing heap when a slab is carved);
    /// the backing heap's cost otherwise.
    #[inline]
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        match Self::class_for(layout) {
            Some(c) => {
                let p = self.allocate_small(c, layout);
                if let (true, Some(p)) = (sanitize::ACTIVE, p) {
                    // SAFETY: `p` is a slot just handed out for `layout`.
                    unsafe { Self::expose(p, layout.size()) };
                }
                p
            }
            None => self.backing.allocate(layout),
        }
    }

    /// Frees a slot (checked, see [`InvalidFree`]) or passes the block to the backing heap.
    ///
    /// # Time complexity
    ///
    /// O(1) for slab classes (plus one call to the backing heap when a slab empties).
    #[inline]
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        match Self::class_for(layout) {
            // SAFETY: forwarded caller contract (and checked).
            Some(c) => unsafe { self.deallocate_small(ptr, c) },
            // SAFETY: `layout` is a pass-through layout, so the block came from `backing`.
            None => unsafe { self.backing.deallocate(ptr, layout) },
        }
    }

    /// Stays in place while the class is unchanged; passes through to the backing heap's
    /// `grow` when both sizes are pass-through; moves otherwise.
    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).ok()?;
        match (Self::class_for(old), Self::class_for(new)) {
            (Some(a), Some(b)) if a == b => {
                if sanitize::ACTIVE {
                    // SAFETY: `ptr` is a live slot (caller contract), now of `new_size` bytes.
                    unsafe { Self::expose(ptr, new_size) };
                }
                Some(ptr)
            }
            // SAFETY: both layouts are pass-through, so the block is `backing`'s (caller
            // contract: `old` fits it).
            (None, None) => unsafe { self.backing.grow(ptr, old, new_size) },
            // SAFETY: forwarded caller contract.
            _ => unsafe { move_block(self, ptr, old, new_size) },
        }
    }

    /// As [`grow`](Self::grow), for smaller sizes.
    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).ok()?;
        match (Self::class_for(old), Self::class_for(new)) {
            (Some(a), Some(b)) if a == b => {
                if sanitize::ACTIVE {
                    // SAFETY: `ptr` is a live slot (caller contract), now of `new_size` bytes.
                    unsafe { Self::expose(ptr, new_size) };
                }
                Some(ptr)
            }
            // SAFETY: both layouts are pass-through, so the block is `backing`'s.
            (None, None) => unsafe { self.backing.shrink(ptr, old, new_size) },
            // SAFETY: forwarded caller contract.
            _ => unsafe { move_block(self, ptr, old, new_size) },
        }
    }

    /// Checks every slab of every span (S1, S3-S6, S8, S9), the partial lists against them
    /// (S2) and the pool (S7), then the backing heap.
    ///
    /// # Time complexity
    ///
    /// O(slabs × slots per slab) plus the backing heap's walk.
    fn validate(&self) -> Result<(), Corruption> {
        let (total, open) = self.validate_spans()?;
        for (c, class) in self.classes.iter().enumerate() {
            let err = |what| Err(Corruption { what, addr: 0 });
            if total[c] != class.slabs {
                return err("S2: slab count of a class disagrees with its slabs");
            }
            let partial = if c < Self::TABLE.len { self.validate_partial(c)? } else { 0 };
            if partial != open[c] {
                return err("S2: a slab with a free slot is missing from the partial list");
            }
        }
        self.validate_pool()?;
        self.backing.validate()
    }
}

impl<H: fmt::Debug, C: SlabConfig> fmt::Debug for Slab<H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("slabs", &self.slab_count())
            .field("invalid_frees", &self.invalid_frees)
            .field("backing", &self.backing)
            .finish()
    }
}
