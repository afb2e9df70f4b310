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
//!  | header | free bits | lent bits | (unused) | slot n-1 | ... | slot 1 | slot 0 |
//!  +--------+-----------+-----------+----------+----------+-----+--------+--------+
//!  ^ found in O(1) from any slot:      slots are packed against the end, so slot i
//!    ptr & !(SLAB_SIZE - 1)            starts at base + SLAB_SIZE - (i + 1) * size
//!
//!  per class:  partial ──► slab ◄─► slab ◄─► ... ◄── tail   (at least one free slot;
//!                                                           full slabs are on no list)
//!  per slab:   summary (bit k: free-bits word k is not 0) ──► free bits ──► lowest set bit
//!  per heap:   spans ──► span head ◄─► span head ◄─► ...   (every span, for `validate`)
//! ```
//!
//! A request picks the smallest class whose slot size is at least `layout.size()` and whose
//! slot alignment (the largest power of two dividing the slot size) is at least
//! `layout.align()`. The lowest free slot of the first partial slab is taken: two
//! count-trailing-zeros, one in the slab's summary word and one in the bitmap word it names.
//! A slab that fills up leaves the partial list (it is its head), and a slot freed in a full
//! slab appends it at the tail. Full slabs are on no list, so when frees land in random full
//! slabs (a map churning) each costs one append and the refill one pop, not a move between
//! two doubly linked lists each way. A slab keeps nothing in its free slots: all of its
//! bookkeeping is in its header, so a write after free cannot corrupt it. A slab whose last slot is
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
//! - Time: allocate and free of a slab-class request are O(1), bounded by constants of the
//!   configuration: a table look-up for the class (plus at most [`MAX_CLASSES`] steps when
//!   the alignment forces a larger class), two count-trailing-zeros to allocate, a multiply
//!   by the inverse of the slot size (and a rotate) for the slot index of a free, one bitmap
//!   word update, and a list append or pop only when a slab fills up or stops being full (an
//!   unlink when it drains). Setting up a slab writes its two bitmaps (`2 * words` words, 8
//!   for [`DefaultClasses`] on 64-bit targets); carving or returning a span costs one call
//!   to `H`. Pass-through requests cost what `H` costs.
//! - Overhead: no per-object header. Per slab, a header of [`Slab::header_size`] bytes (eleven
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
//! - The checks cost instructions on every free (the address hull, the magic, which also
//!   carries the class, the slot start and the slot's bit): where the backing heap's own free
//!   is short, a slab free is not cheaper. On the host a `Tlsf` free that merges nothing is
//!   shorter than the slab's (a `BTreeMap` churn, x86-64, callgrind: 49 instructions against
//!   53); the slab wins on allocation (46 against 54), so per operation it is slightly ahead
//!   there (49.6 against 51.5), and it wins wherever the backing heap has to split, merge or
//!   search (a tree built and dropped: 50.1 per operation against 71.9). BENCHMARKS.md has
//!   the measured figures, host and Cortex-M3.
//! - A slot is taken from the lowest free position of a slab, not the most recently freed
//!   one: the cache-warm slot a LIFO free list would return next is not preferred.
//! - A [`SlabConfig`] on a 32-bit target has slabs of at most 16 KiB (one summary word covers
//!   the bitmap); a larger one does not compile.
//!
//! # Changes from the reference allocator
//!
//! Redox's slab keeps one free list per class threaded through all of its slabs and never
//! returns memory. Here each slab keeps its own bitmap of free slots with a summary word over
//! it, in its header (Bonwick's per-slab state, with bits for links), so an empty slab is
//! detected in O(1) and pooled or returned, a double free is caught by the bit, nothing in a
//! free slot is ever read (a write after free damages no bookkeeping), and setting up a slab
//! writes a few bitmap words instead of threading a list through every slot.
//!
//! # Invariants
//!
//! - **S1** Every slab is `SLAB_SIZE` bytes of a span currently allocated from `backing`
//!   (S8); its header sits at its base, which is `SLAB_SIZE`-aligned, and its `magic` is
//!   `SLAB_MAGIC ^ base ^ class`, where `class` is its class word: the class index, or
//!   `POOL_CLASS`, with the `LENDING` and `QUARANTINED` flags. A slab given back has its magic
//!   cleared first.
//! - **S2** A slab of class `c` with `live < slots(c)` is on the partial list of class `c`
//!   (from `partial[c]` to `tail[c]`, doubly linked through `prev`/`next`; the first slab's
//!   `prev` is unused), unless it is quarantined (the `QUARANTINED` flag: its header was
//!   found inconsistent while allocating); a full slab (`live == slots(c)`) and a
//!   quarantined one are on no list. `slabs[c]` counts all slabs of class `c`.
//! - **S3** Slot `i < slots(c)` starts at `base + SLAB_SIZE - (i + 1) * size(c)`, which is at or
//!   above `base + header_size`; slots never overlap the header or each other.
//! - **S4** The `free` bit of slot `i < slots(c)` is set exactly while the slot is not handed
//!   out; no bit past the last slot is set; `live` counts the slots handed out, so
//!   `live + (free bits set) == slots(c)`. A `lent` bit (the slot serves a smaller class) is
//!   set only on a handed-out slot, and only in a slab whose class word has `LENDING`.
//! - **S5** Bit `k` of `summary` is set exactly when word `k` of the `free` bitmap is not
//!   zero; no bit at or past `words` is set. So a slab has a free slot exactly when its
//!   summary is not zero.
//! - **S6** Every slab lies inside `[lo, lo + hull_len)`, the hull of all slabs ever carved.
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
/// Header magic, XORed with the slab's base address and its class word (S1).
const SLAB_MAGIC: usize = usize::MAX;

/// The magic of a live slab at `base` whose class word is `class` (S1). One comparison of
/// the header's first word with it checks both that the slab is live and that it serves
/// class `class`: the hot free path reads no other word before it trusts the header.
#[inline(always)]
const fn magic_of(base: usize, class: usize) -> usize {
    SLAB_MAGIC ^ base ^ class
}
/// The class-index bits of a slab's `class` word; the two bits above are flags.
const CLASS_MASK: usize = usize::MAX >> 2;
/// The `class` of a slab in the pool of empty slabs (S7).
const POOL_CLASS: usize = CLASS_MASK;
/// Flag in a slab's `class` while it may hold slots lent to a smaller class (S4). A free of
/// any of its slots then no longer matches the class on the hot path and takes the checked
/// slow path, which reads the `lent` bitmap. Cleared when the slab is set up again.
const LENDING: usize = 1 << (usize::BITS - 1);
/// Flag in a slab's `class` once its header was found inconsistent while allocating (S2):
/// the slab is taken out of service. Cleared when the slab is set up again.
const QUARANTINED: usize = 1 << (usize::BITS - 2);

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
    /// A slab's header (its bitmap, summary or counts) was found inconsistent while
    /// allocating (a stray write into it); the slab was taken out of service.
    CorruptHeader,
}

impl InvalidFree {
    /// The same reason in the crate-wide [fault vocabulary](crate::fault::FaultKind).
    pub const fn kind(self) -> FaultKind {
        match self {
            InvalidFree::NotOwned => FaultKind::Outside,
            InvalidFree::WrongClass => FaultKind::WrongClass,
            InvalidFree::NotSlotStart => FaultKind::NotBlockStart,
            InvalidFree::NotAllocated => FaultKind::NotAllocated,
            InvalidFree::CorruptHeader => FaultKind::BadHeader,
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
            InvalidFree::CorruptHeader => "slab header found inconsistent while allocating",
        })
    }
}

/// The header at the start of every slab (S1). Followed by two bitmaps of `Table::words`
/// words each, one bit per slot: `free` (S4, S5), then `lent` (read only on the rare lent
/// paths, so the hot paths test and flip a single bit).
#[repr(C)]
struct SlabHdr {
    /// `magic_of(base, class)` while the slab is live (S1).
    magic: usize,
    /// Index of the size class, with the LENDING and QUARANTINED flags above it.
    class: usize,
    /// Slots handed out and not freed.
    live: usize,
    /// Bit `k` set while word `k` of the `free` bitmap is not zero (S5).
    summary: usize,
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

/// Derived per-class constants, computed at compile time from a [`SlabConfig`].
struct Table {
    len: usize,
    size: [usize; MAX_CLASSES],
    align: [usize; MAX_CLASSES],
    slots: [usize; MAX_CLASSES],
    /// The inverse modulo `2^32` of the odd part of `size` (`size = odd << shift`): for
    /// `n < 2^32`, `(n * inv).rotate_right(shift)` is `n / size` when `size` divides `n`, and
    /// above `u32::MAX / size >= 2^21` (more than any slab has slots) when it does not. One
    /// 32-bit multiply and a rotate both divide and check divisibility (see `slot_index_in`).
    inv: [u32; MAX_CLASSES],
    /// `size.trailing_zeros()`.
    shift: [u32; MAX_CLASSES],
    /// `lut[ceil(size / 16)]` = the smallest class with a slot of at least `size` bytes.
    lut: [u8; LUT_LEN],
    /// Words of each bitmap (one bit per possible slot), at most `WORD_BITS` (one summary
    /// word covers them, S5).
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
        let words = (slab_size / GRANULE).div_ceil(WORD_BITS);
        assert!(
            words <= WORD_BITS,
            "SlabConfig: SLAB_SIZE must be at most 16 KiB on 32-bit targets (one summary word)"
        );
        let header = (size_of::<SlabHdr>() + 2 * words * size_of::<usize>()).next_multiple_of(16);
        let mut t = Table {
            len: classes.len(),
            size: [0; MAX_CLASSES],
            align: [0; MAX_CLASSES],
            slots: [0; MAX_CLASSES],
            inv: [0; MAX_CLASSES],
            shift: [0; MAX_CLASSES],
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
            t.shift[c] = size.trailing_zeros();
            t.inv[c] = inverse_mod_2_32((size >> size.trailing_zeros()) as u32);
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

/// The bits of bitmap word `k` that stand for slots of a slab with `slots` slots.
const fn slot_bits(slots: usize, k: usize) -> usize {
    let first = k * WORD_BITS;
    if slots >= first + WORD_BITS {
        usize::MAX
    } else if slots > first {
        usize::MAX >> (WORD_BITS - (slots - first))
    } else {
        0
    }
}

/// The inverse of the odd number `d` modulo `2^32` (`d * inverse == 1`), by Newton's
/// iteration: `d` is its own inverse modulo 8, and each step doubles the correct bits
/// (3, 6, 12, 24, 48).
const fn inverse_mod_2_32(d: u32) -> u32 {
    let mut x = d;
    let mut k = 0;
    while k < 4 {
        x = x.wrapping_mul(2u32.wrapping_sub(d.wrapping_mul(x)));
        k += 1;
    }
    x
}

/// A slab front end over the backing heap `H` (see the [module docs](self)).
pub struct Slab<H, C: SlabConfig = DefaultClasses> {
    backing: H,
    /// Per class (S2), each in an array of its own, indexed like the class tables: the
    /// first and last slab of its partial list (the slabs with a free slot; null when
    /// empty), and the number of all its slabs, partial, full and quarantined.
    partial: [*mut SlabHdr; MAX_CLASSES],
    tail: [*mut SlabHdr; MAX_CLASSES],
    slabs: [usize; MAX_CLASSES],
    /// Start of the hull of all slabs ever carved (S6).
    lo: usize,
    /// `hi - lo`, the hull's length (0 before the first slab): a free checks its slab against
    /// the hull with one subtraction and one comparison.
    hull_len: usize,
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
            partial: [ptr::null_mut(); MAX_CLASSES],
            tail: [ptr::null_mut(); MAX_CLASSES],
            slabs: [0; MAX_CLASSES],
            lo: usize::MAX,
            hull_len: 0,
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
        self.slabs.iter().sum()
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

    /// Whether `addr` lies in the hull of all slabs ever carved (S6). One unsigned comparison
    /// checks both bounds; before the first slab `hull_len` is 0 and nothing passes.
    #[inline(always)]
    fn in_hull(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.lo) < self.hull_len
    }

    /// Sets the class word of the live slab `hdr`, and its magic with it (S1).
    ///
    /// # Safety
    ///
    /// `hdr` is a slab of ours (S1, S8).
    #[inline(always)]
    unsafe fn set_class(hdr: *mut SlabHdr, class: usize) {
        // SAFETY: caller contract.
        unsafe {
            (&raw mut (*hdr).class).write(class);
            (&raw mut (*hdr).magic).write(magic_of(hdr.addr(), class));
        }
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
        // Distance from the pointer to the slab end, in 1..SLAB_SIZE <= 2^16 (0 for the slab
        // base, which is no slot: `q` is then 0 and rejected below).
        let from_end = (off.wrapping_neg() & (C::SLAB_SIZE - 1)) as u32;
        // Exact division and divisibility test in one (see `Table::inv`): `q` is the slot
        // count from the end when `off` starts a slot, and above any slot count otherwise.
        let q = from_end.wrapping_mul(t.inv[c]).rotate_right(t.shift[c]) as usize;
        // `q - 1 < slots` also rejects `q == 0` (wrapping).
        let i = q.wrapping_sub(1);
        (i < t.slots[c]).then_some(i)
    }

    /// The `free` bitmap word holding slot `i`'s bit, and the bit's mask.
    ///
    /// # Safety
    ///
    /// `hdr` is a slab block of ours (S1) and `i < slots` of its class.
    #[inline(always)]
    unsafe fn free_bit(hdr: *mut SlabHdr, i: usize) -> (*mut usize, usize) {
        // SAFETY: the bitmaps follow the header inside `Table::header` bytes of the slab;
        // `i < slots <= SLAB_SIZE / 16 <= words * WORD_BITS`.
        let p = unsafe { Self::bitmap(hdr).add(i / WORD_BITS) };
        (p, 1 << (i % WORD_BITS))
    }

    /// The `free` and `lent` bitmap words holding slot `i`'s bits, and the bits' mask.
    ///
    /// # Safety
    ///
    /// `hdr` is a slab block of ours (S1) and `i < slots` of its class.
    #[inline]
    unsafe fn bits(hdr: *mut SlabHdr, i: usize) -> (*mut usize, *mut usize, usize) {
        // SAFETY: as in `free_bit`.
        let (free, mask) = unsafe { Self::free_bit(hdr, i) };
        // SAFETY: the `lent` bitmap follows the `free` one, inside the header (`Table::header`).
        (free, unsafe { free.add(Self::TABLE.words) }, mask)
    }

    /// The first word of the `free` bitmap of the slab at `hdr` (`words` words; the `lent`
    /// bitmap follows).
    #[inline(always)]
    fn bitmap(hdr: *mut SlabHdr) -> *mut usize {
        // Inside the slab: the bitmaps are part of its header (`Table::header` bytes).
        hdr.wrapping_add(1).cast()
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
        let c = unsafe { (&raw const (*hdr).class).read() } & CLASS_MASK;
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

    /// Puts `hdr` at the back of the partial list of class `c`.
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `c` in no list (S2).
    #[inline(always)]
    unsafe fn class_push_back(&mut self, c: usize, hdr: *mut SlabHdr) {
        let c = c % MAX_CLASSES;
        let last = self.tail[c];
        // SAFETY: `hdr` is a live slab header (caller).
        unsafe {
            (&raw mut (*hdr).prev).write(last);
            (&raw mut (*hdr).next).write(ptr::null_mut());
        }
        if last.is_null() {
            self.partial[c] = hdr;
        } else {
            // SAFETY: `last` is the last slab of the list, a live slab (S2).
            unsafe { (&raw mut (*last).next).write(hdr) };
        }
        self.tail[c] = hdr;
    }

    /// Takes `hdr`, the first slab of the partial list of class `c`, off it.
    ///
    /// # Safety
    ///
    /// `hdr` is the first slab of the partial list of class `c` (S2).
    #[inline(always)]
    unsafe fn class_pop_front(&mut self, c: usize, hdr: *mut SlabHdr) {
        let c = c % MAX_CLASSES;
        // SAFETY: `hdr` is a live slab header (caller).
        let next = unsafe { (&raw const (*hdr).next).read() };
        // The new first slab's `prev` is left as it is: the first slab's is unused (S2).
        self.partial[c] = next;
        if next.is_null() {
            self.tail[c] = ptr::null_mut();
        }
    }

    /// Unlinks `hdr` from the partial list of class `c`.
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab on the partial list of class `c` (S2).
    unsafe fn class_unlink(&mut self, c: usize, hdr: *mut SlabHdr) {
        let c = c % MAX_CLASSES;
        if self.partial[c] == hdr {
            // SAFETY: caller contract: `hdr` is the first slab.
            return unsafe { self.class_pop_front(c, hdr) };
        }
        // SAFETY: `hdr` is a live slab header (caller); not the first, so `prev` is its
        // neighbour in the list (S2).
        let (prev, next) =
            unsafe { ((&raw const (*hdr).prev).read(), (&raw const (*hdr).next).read()) };
        // SAFETY: `prev` is a live slab of the list (S2).
        unsafe { (&raw mut (*prev).next).write(next) };
        if next.is_null() {
            self.tail[c] = prev;
        } else {
            // SAFETY: `next` is a live slab of the list (S2).
            unsafe { (&raw mut (*next).prev).write(prev) };
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
            let hdr = self.partial[c % MAX_CLASSES];
            // S10: an empty slab on a partial list is the only slab of its class.
            if self.slabs[c % MAX_CLASSES] != 1 || hdr.is_null() {
                continue;
            }
            // SAFETY: a non-null partial head is a live slab header (S2).
            if unsafe { (&raw const (*hdr).live).read() } != 0 {
                continue;
            }
            // SAFETY: `hdr` heads the partial list of `c`.
            unsafe { self.class_pop_front(c, hdr) };
            self.slabs[c % MAX_CLASSES] = 0;
            // SAFETY: `hdr` is our empty slab (live 0: S4), now in no list.
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
        unsafe { Self::set_class(hdr, POOL_CLASS) };
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
            // `base + len` is the end of an allocated block, and so is the hull's end: no
            // overflow.
            let end = base.wrapping_add(layout.size());
            let (lo, hi) = if self.hull_len == 0 {
                (base, end)
            } else {
                (self.lo.min(base), self.lo.wrapping_add(self.hull_len).max(end))
            };
            self.lo = lo;
            self.hull_len = hi.wrapping_sub(lo);
            let head = block.as_ptr().cast::<SlabHdr>();
            for k in 0..n {
                // SAFETY: slab `k < n` lies inside the new block; each slab is SLAB_SIZE bytes
                // and SLAB_SIZE-aligned, and its header fits (S1, S8).
                unsafe {
                    let slab = head.byte_add(k * C::SLAB_SIZE);
                    slab.write(SlabHdr {
                        magic: magic_of(slab.addr(), POOL_CLASS),
                        class: POOL_CLASS,
                        live: 0,
                        summary: 0,
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
        let t = &Self::TABLE;
        let slots = t.slots[c % MAX_CLASSES];
        // Words of the `free` bitmap that hold a slot: 1..=words (`slots >= 2`).
        let used_words = slots.div_ceil(WORD_BITS);
        // SAFETY: `hdr` came off the pool: a slab of ours in no list (S7, S8); the header and
        // bitmaps fit in `Table::header < SLAB_SIZE` bytes. The span fields are kept.
        unsafe {
            Self::set_class(hdr, c);
            (&raw mut (*hdr).live).write(0);
            (&raw mut (*hdr).summary).write(usize::MAX >> (WORD_BITS - used_words));
        }
        // S4: every slot free, no bit past the last slot, nothing lent. `words` is a small
        // constant of the configuration (4 for `DefaultClasses` on 64-bit targets).
        let bitmap = Self::bitmap(hdr);
        for k in 0..t.words {
            // SAFETY: words `k` and `words + k` of the bitmaps, inside the header.
            unsafe {
                bitmap.add(k).write(slot_bits(slots, k));
                bitmap.add(t.words + k).write(0);
            }
        }
        // SAFETY: everything past the header and bitmap is slot space of this slab of ours,
        // none of it handed out: poisoned until a slot is (what a previous class left there
        // included).
        unsafe {
            let slots = hdr.cast::<u8>().wrapping_add(Self::TABLE.header);
            sanitize::poison(slots, C::SLAB_SIZE - Self::TABLE.header);
        }
        // The class has no partial slab (the only caller, `allocate_small_slow`, carves when
        // it has none), so this makes `hdr` its first.
        // SAFETY: `hdr` is a newly set-up live slab in no list.
        unsafe { self.class_push_back(c, hdr) };
        self.slabs[c % MAX_CLASSES] += 1;
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
        // SAFETY: live slab header (caller).
        if unsafe { (&raw const (*hdr).class).read() } & QUARANTINED == 0 {
            if self.slabs[c % MAX_CLASSES] == 1 && self.pooled < self.retain {
                // S10: the only slab of its class stays on the partial list, empty, so that
                // a class that drains and refills (a tree dropped and rebuilt) does not
                // pool and set up a slab every time. Only while the pool has room: with
                // `retain == 0` every empty slab goes back at once. (Decided here, out of
                // line: inlined into the free path it cost that path two instructions.)
                return;
            }
            // SAFETY: caller contract: not quarantined, so on the partial list.
            unsafe { self.class_unlink(c, hdr) };
        }
        self.slabs[c % MAX_CLASSES] -= 1;
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

    /// Takes a free slot from the partial slab `hdr` of class `sc`. `None`, with nothing
    /// written, if its header turned out to be damaged (S4, S5): the caller then hands
    /// the slab to `quarantine` (out of line, so this path makes no call).
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
        let t = &Self::TABLE;
        let size = t.size[sc % MAX_CLASSES];
        // SAFETY: `hdr` is a live slab header (caller).
        let summary = unsafe { (&raw const (*hdr).summary).read() };
        // The lowest bitmap word with a free slot (S5). A partial slab has one (S2): a summary
        // with no bit below `words` (zero, or only bits past the bitmap) is a damaged header.
        // One test covers both, before counting zeros (`1 <= words <= WORD_BITS`).
        if summary & (usize::MAX >> (WORD_BITS - t.words)) == 0 {
            return None;
        }
        let k = summary.trailing_zeros() as usize;
        // SAFETY: `k < words`: a word of the `free` bitmap, inside the header.
        let w = unsafe { Self::bitmap(hdr).add(k) };
        // SAFETY: as above.
        let word = unsafe { w.read() };
        // The summary promises a free slot in word `k`, and no bit past the last slot is set
        // (S4, S5): anything else is a damaged header, which must not yield a pointer
        // outside the slots (S3).
        if word == 0 {
            return None;
        }
        let i = k * WORD_BITS + word.trailing_zeros() as usize;
        // Slot `i` starts `(i + 1) * size` bytes before the slab end (S3), and it is a slot
        // (`i < slots = (SLAB_SIZE - header) / size`) exactly when that distance is at most
        // `SLAB_SIZE - header`: one test against a constant, and the distance is the slot's
        // address below. No overflow: `i < words * WORD_BITS <= WORD_BITS^2` and
        // `size <= MAX_CLASS_SIZE`.
        let from_end = (i + 1).wrapping_mul(size);
        if from_end > C::SLAB_SIZE - t.header {
            return None;
        }
        let rest = word & (word - 1);
        // SAFETY: as above (S4: slot `i` is handed out).
        unsafe { w.write(rest) };
        if rest == 0 {
            // S5: word `k`, the summary's lowest set bit, has no free slot left.
            let summary = summary & (summary - 1);
            // SAFETY: live slab header.
            unsafe { (&raw mut (*hdr).summary).write(summary) };
            if summary == 0 {
                // S2: no free slot left (S5), so the slab is full: it leaves the partial
                // list and is on none until a slot is freed.
                // SAFETY: `hdr` is the first slab on the partial list of `sc` (caller).
                unsafe { self.class_pop_front(sc, hdr) };
            }
        }
        // SAFETY: live slab header (S4: one more slot handed out; the slab's fullness was
        // read off the summary above, so the count is only kept, not compared).
        unsafe {
            let live = (&raw const (*hdr).live).read();
            // Wrapping: a damaged count must not panic here (`validate` reports it).
            (&raw mut (*hdr).live).write(live.wrapping_add(1));
        }
        if lent {
            // SAFETY: the `lent` bitmap word of the same slot lies `words` words further
            // (`bits`); from now on the slab's frees take the checked slow path (LENDING).
            unsafe {
                let lw = w.add(t.words);
                lw.write(lw.read() | (word & !rest));
                Self::set_class(hdr, sc | LENDING);
            }
        }
        // SAFETY: `header <= SLAB_SIZE - from_end < SLAB_SIZE`: slot `i` of the slab block
        // (S3).
        let slot = unsafe { hdr.cast::<u8>().add(C::SLAB_SIZE - from_end) };
        // Slot pointers are derived from the slab block's pointer, so they keep its provenance.
        // SAFETY: `slot` lies inside the slab block (S3), which does not start at null.
        Some(unsafe { NonNull::new_unchecked(slot) })
    }

    /// The header of the partial slab `hdr` of class `sc` is inconsistent (a stray write into
    /// it): reports it and quarantines the slab (S2: on no list, so no allocation looks at it;
    /// frees into it still work, through the checked slow path, it is pooled when it empties,
    /// and `validate` reports it until then).
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `sc`, the first on its partial list.
    #[cold]
    #[inline(never)]
    unsafe fn quarantine(&mut self, hdr: *mut SlabHdr, sc: usize) {
        self.invalid_free(hdr.cast(), InvalidFree::CorruptHeader);
        // SAFETY: `hdr` is the first slab on the partial list of `sc` (caller).
        unsafe { self.class_pop_front(sc, hdr) };
        // SAFETY: live slab header; the flag is cleared when the slab is set up again (`carve`).
        unsafe {
            let key = (&raw const (*hdr).class).read();
            Self::set_class(hdr, key | QUARANTINED);
        }
    }

    /// Allocates a slot of class `c` for a request aligned to at most `GRANULE` (which every
    /// slot is, S3).
    #[inline(always)]
    fn allocate_small(&mut self, c: usize) -> Option<NonNull<u8>> {
        let hdr = self.partial[c % MAX_CLASSES];
        if !hdr.is_null() {
            // SAFETY: `hdr` is on the partial list of class `c`.
            if let Some(p) = unsafe { self.take_slot(hdr, c, false) } {
                return Some(p);
            }
        }
        // Every other case (no partial slab, or a damaged one) is handled out of line, so
        // the path above makes no call that returns to it. The slow path takes the class
        // alone, the one value this path keeps besides its own (Cortex-M3: passing the
        // layout instead kept two more registers live here, which cost spills).
        self.allocate_small_slow(c, GRANULE)
    }

    /// Allocates a slot of class `c` for a request aligned to `align`: no partial slab, the
    /// first one has a damaged header, or an alignment above `GRANULE` (rare).
    #[inline(never)]
    fn allocate_small_slow(&mut self, c: usize, align: usize) -> Option<NonNull<u8>> {
        // A slab whose header is found damaged is quarantined and the next one tried; two
        // attempts bound the work.
        for _ in 0..2 {
            let mut hdr = self.partial[c % MAX_CLASSES];
            if hdr.is_null() {
                match self.carve(c) {
                    Some(h) => hdr = h,
                    None => return self.allocate_lent(c, align),
                }
            }
            // SAFETY: `hdr` is on the partial list of class `c`.
            if let Some(p) = unsafe { self.take_slot(hdr, c, false) } {
                return Some(p);
            }
            // SAFETY: as above; `take_slot` found its header damaged.
            unsafe { self.quarantine(hdr, c) };
        }
        None
    }

    /// The backing heap has no room for a new slab of class `c`: lend a slot of a larger class
    /// aligned to `align` that has one free (catalogue J2, exhaustion).
    #[cold]
    fn allocate_lent(&mut self, c: usize, align: usize) -> Option<NonNull<u8>> {
        let t = &Self::TABLE;
        for bigger in c + 1..t.len {
            let hdr = self.partial[bigger % MAX_CLASSES];
            if !hdr.is_null() && t.align[bigger % MAX_CLASSES] >= align {
                // SAFETY: `hdr` is on the partial list of class `bigger`.
                let p = unsafe { self.take_slot(hdr, bigger, true) };
                if p.is_none() {
                    // SAFETY: as above; `take_slot` found its header damaged.
                    unsafe { self.quarantine(hdr, bigger) };
                }
                return p;
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
        // S6: never read outside memory that has held a slab (C2).
        if !self.in_hull(base) {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotOwned);
        }
        let hdr = ptr.as_ptr().with_addr(base).cast::<SlabHdr>();
        // SAFETY: `base` is SLAB_SIZE-aligned inside the hull of carved slabs, i.e. inside
        // memory the backing heap handed out as a slab (S6), so this word is readable; it is
        // only trusted if it holds a live slab's magic (S1).
        let magic = unsafe { (&raw const (*hdr).magic).read() };
        if magic != magic_of(base, c) {
            // Not a live slab, a slab of another class, or one with lent slots (LENDING):
            // the checked slow path tells them apart.
            // SAFETY: forwarded; `hdr` lies in the hull (S6).
            return unsafe { self.deallocate_other(ptr, hdr, c) };
        }
        // The magic matches: `hdr` is a live slab of class `c` with no flag (S1).
        let Some(i) = Self::slot_index_in(addr & !Self::MASK, c) else {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotSlotStart);
        };
        // SAFETY: `i < slots(c)`.
        let (w, mask) = unsafe { Self::free_bit(hdr, i) };
        // SAFETY: bitmap word of the live slab.
        let word = unsafe { w.read() };
        if word & mask != 0 {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotAllocated);
        }
        // A slab without LENDING in its class word has no lent slot (S4): this is a slot of
        // class `c`, handed out as one.
        // SAFETY: all checks passed for slot `i` of the live slab `hdr` of class `c`.
        unsafe { self.free_slot(hdr, ptr, i, word, c, true) };
    }

    /// A free whose layout maps to class `c`, of a pointer whose slab base `hdr` (in the
    /// hull) does not hold the magic of a live slab of class `c`: not a live slab at all, a
    /// slab of another class (valid only for a slot lent to a smaller class, the J2
    /// exhaustion fallback), or a slab that has lent slots (LENDING: any of its slots).
    ///
    /// # Safety
    ///
    /// `hdr` is the SLAB_SIZE-aligned base below `ptr`, inside the hull of carved slabs (S6).
    #[cold]
    unsafe fn deallocate_other(&mut self, ptr: NonNull<u8>, hdr: *mut SlabHdr, c: usize) {
        // SAFETY: inside the hull, so readable (S6); trusted only with a matching magic.
        let (magic, key) =
            unsafe { ((&raw const (*hdr).magic).read(), (&raw const (*hdr).class).read()) };
        if magic != magic_of(hdr.addr(), key) {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotOwned);
        }
        let sc = key & CLASS_MASK;
        if sc >= Self::TABLE.len {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotOwned);
        }
        let Some(i) = Self::slot_index_in(ptr.as_ptr().addr() & !Self::MASK, sc) else {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotSlotStart);
        };
        // SAFETY: `i < slots(sc)`.
        let (w, lw, mask) = unsafe { Self::bits(hdr, i) };
        // SAFETY: bitmap words of the live slab.
        let (word, lent) = unsafe { (w.read(), lw.read() & mask != 0) };
        if word & mask != 0 {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::NotAllocated);
        }
        // A lent slot is freed with the smaller class it serves, any other with its own.
        if (lent && sc <= c) || (!lent && sc != c) {
            return self.invalid_free(ptr.as_ptr(), InvalidFree::WrongClass);
        }
        if lent {
            // SAFETY: bitmap word of the live slab.
            unsafe { lw.write(lw.read() & !mask) };
        }
        // SAFETY: all checks passed for slot `i` of the live slab `hdr` of class `sc`.
        unsafe { self.free_slot(hdr, ptr, i, word, sc, key & QUARANTINED == 0) };
    }

    /// Puts a checked slot back: sets its `free` bit, updates the summary and the lists.
    ///
    /// # Safety
    ///
    /// `hdr` is a live slab of class `sc`, `ptr` its slot `i`, currently allocated, and `word`
    /// the value of the slot's `free` bitmap word (the slot's bit clear). `in_service` is
    /// false for a quarantined slab (S2).
    #[inline(always)]
    unsafe fn free_slot(
        &mut self,
        hdr: *mut SlabHdr,
        ptr: NonNull<u8>,
        i: usize,
        word: usize,
        sc: usize,
        in_service: bool,
    ) {
        // SAFETY: `i < slots(sc)` (caller).
        let (w, mask) = unsafe { Self::free_bit(hdr, i) };
        // SAFETY: bitmap word of the live slab (S4: slot free).
        unsafe { w.write(word | mask) };
        if word == 0 {
            // S5: the word had no free slot; now it has one.
            // SAFETY: live slab header.
            let summary = unsafe { (&raw const (*hdr).summary).read() };
            // SAFETY: live slab header.
            unsafe { (&raw mut (*hdr).summary).write(summary | 1 << (i / WORD_BITS)) };
            if summary == 0 && in_service {
                // S2: the slab had no free slot (S5), so it was full and on no list; now it
                // has one. (A quarantined slab stays on no list.)
                // SAFETY: `hdr` is a live slab in no list.
                unsafe { self.class_push_back(sc, hdr) };
            }
        }
        if sanitize::ACTIVE {
            // Nothing of a free slot is the slab's: all of it is poisoned while it is free.
            // SAFETY: a slot of this slab, ours while it is free.
            unsafe { sanitize::poison(ptr.as_ptr(), Self::TABLE.size[sc % MAX_CLASSES]) };
        }
        // `live >= 1` since slot `i` was handed out (S4); wrapping keeps a damaged count from
        // panicking (`validate` reports it).
        // SAFETY: live slab header.
        let live = unsafe { (&raw const (*hdr).live).read() }.wrapping_sub(1);
        // SAFETY: live slab header.
        unsafe { (&raw mut (*hdr).live).write(live) };
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
        if base & !Self::MASK != 0 || !self.in_hull(base) {
            return err("S6: slab outside the hull of carved slabs or misaligned");
        }
        // SAFETY: `base` is SLAB_SIZE-aligned inside the hull of carved slabs, so the header
        // lies in memory that held a slab (S6); it is trusted only with its magic.
        let h = unsafe { hdr.read() };
        if h.magic != magic_of(base, h.class) {
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
        if h.class & CLASS_MASK != c {
            return err("S2: slab of another class");
        }
        self.validate_span(hdr, &h)?;
        if h.class & QUARANTINED != 0 {
            return err("S2: slab quarantined after its header was found damaged");
        }
        let slots = t.slots[c % MAX_CLASSES];
        let bitmap = Self::bitmap(hdr);
        let mut free = 0;
        for k in 0..t.words {
            // SAFETY: words `k` and `words + k` of the bitmaps of a live slab (S1).
            let (word, lent) = unsafe { (bitmap.add(k).read(), bitmap.add(t.words + k).read()) };
            if (word | lent) & !slot_bits(slots, k) != 0 {
                return err("S4: bit set past the last slot");
            }
            if word & lent != 0 {
                return err("S4: lent bit set on a free slot");
            }
            if lent != 0 && h.class & LENDING == 0 {
                return err("S4: lent slot in a slab not marked as lending");
            }
            if (word != 0) != (h.summary >> k & 1 != 0) {
                return err("S5: summary bit disagrees with its bitmap word");
            }
            free += word.count_ones() as usize;
        }
        if t.words < WORD_BITS && h.summary >> t.words != 0 {
            return err("S5: summary bit past the bitmap");
        }
        if free + h.live != slots {
            return err("S4: free bitmap disagrees with the live count");
        }
        Ok(())
    }

    /// Checks the span fields of the slab at `hdr`, whose header `h` was read (S8).
    fn validate_span(&self, hdr: *mut SlabHdr, h: &SlabHdr) -> Result<(), Corruption> {
        let err = |what| Err(Corruption { what, addr: hdr.addr() });
        let head = h.span;
        let start = head.addr();
        if start & !Self::MASK != 0 || !self.in_hull(start) || start > hdr.addr() {
            return err("S8: span head outside the hull, misaligned or above the slab");
        }
        // SAFETY: `head` is SLAB_SIZE-aligned inside the hull (S6), so its header is readable.
        let head_h = unsafe { head.read() };
        if head_h.magic != magic_of(start, head_h.class) || head_h.span != head {
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
            if base & !Self::MASK != 0 || !self.in_hull(base) {
                return err("S6: pooled slab outside the hull of carved slabs or misaligned");
            }
            // SAFETY: the hull check keeps the read inside memory that held slabs; the pool
            // links pooled slab headers (S7).
            let h = unsafe { hdr.read() };
            if h.magic != magic_of(base, h.class) || h.class != POOL_CLASS || h.prev != prev {
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
        let mut hdr = self.partial[c % MAX_CLASSES];
        let mut prev = ptr::null_mut();
        let mut n = 0;
        while !hdr.is_null() {
            let err = |what| Err(Corruption { what, addr: hdr.addr() });
            if n >= self.slabs[c % MAX_CLASSES] {
                return err("S2: more slabs on a partial list than counted");
            }
            let h = self.read_header(hdr)?;
            // The first slab's `prev` is unused.
            if h.class & CLASS_MASK != c || (n > 0 && h.prev != prev) {
                return err("S2: partial list links a slab of another class, or a broken link");
            }
            if h.live >= slots || h.class & QUARANTINED != 0 {
                return err("S2: full or quarantined slab on the partial list");
            }
            prev = hdr;
            hdr = h.next;
            n += 1;
        }
        if self.tail[c % MAX_CLASSES] != prev {
            return Err(Corruption {
                what: "S2: partial list tail is not its last slab",
                addr: prev.addr(),
            });
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
                let c = sh.class & CLASS_MASK;
                if c >= t.len {
                    return Err(Corruption {
                        what: "S2: slab of a class that does not exist",
                        addr: slab.addr(),
                    });
                }
                self.validate_slab(slab, c)?;
                if sh.live == 0 && self.slabs[c % MAX_CLASSES] != 1 {
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
                let p = if layout.align() <= GRANULE {
                    self.allocate_small(c)
                } else {
                    self.allocate_small_slow(c, layout.align())
                };
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
        for (c, &slabs) in self.slabs.iter().enumerate() {
            let err = |what| Err(Corruption { what, addr: 0 });
            if total[c] != slabs {
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
