//! [`Tlsf`]: a two-level segregated-fit heap. Allocate, free and in-place grow/shrink run in
//! constant time, with a one-word header per block and a control block that lives inside the
//! heap's own memory.
//!
//! # Algorithm
//!
//! Free blocks are kept in segregated lists, one per size class. A class index has two levels:
//! the first level is the power of two of the size (in granules of `G` bytes) and the second
//! level splits each power of two into `SL` equal parts. Sizes below `2·SL` granules get one
//! exact class each. A bitmap with one bit per class records which lists are non-empty, and a
//! summary word has one bit per bitmap word that is not zero, so finding a list is two
//! `trailing_zeros` instead of a search:
//!
//! ```text
//!   summary   ...0 0 1 0 1 1           bit w: bitmap word w is not zero
//!                    │   │ │
//!                    │   │ └─ bitmap[0]  0 1 0 0 1 0 ... 0   bit b: list w·BITS + b is non-empty
//!                    │   │                 │     │
//!                    │   │                 │     └─ heads[4] ──► free ──► null
//!                    │   │                 └─ heads[1] ──► free ──► free ──► null
//!                    │   └─── bitmap[1]  ...
//!                    └─────── bitmap[3]  ...
//!
//!   first level f = 0: sizes 0 .. SL granules, one class per size          (exact)
//!   first level f = 1: sizes SL .. 2·SL granules, one class per size       (exact)
//!   first level f ≥ 2: sizes [SL << (f−1), SL << f), SL classes of 2^(f−1) granules each
//! ```
//!
//! To allocate `n` granules, the request is rounded up to the first class whose every block has
//! at least `n` granules (`mapping::ceil_index`); the lowest non-empty list at or above it is
//! found with two bitmap lookups (the request's own bitmap word, else the summary), its first block is taken and the unused tail is split off
//! and filed as a new free block. To free, the block is merged with free physical neighbours
//! (found through the header's size and a footer) and the result is filed first in its list.
//! A class is one `leading_zeros` away from a size; on cores without that instruction
//! (Cortex-M0/M0+, RISC-V without Zbb) the exact classes need none and larger sizes take a
//! short chain of compares instead (`mapping::HAS_CLZ`), which cut Cortex-M0's free from 118.6
//! to 86.3 instructions per call and RV32IMAC's from 95.1 to 76.7.
//!
//! Lists are doubly linked. The first block's `prev` is not null but the list's *pseudo-node*:
//! the address one word before its head slot, so that `prev.next` is the head slot itself.
//! Unlinking is then the same two stores for every block, with no class computation; only when
//! a list empties is its class recovered (from the pseudo-node's address) to clear its bits.
//!
//! Every block starts with one header word: its size and three flag bits. A free block also holds
//! its list links after the header and, in its last word, a footer pointing back at its header,
//! so that the next block can find it. Allocated blocks need no footer: the `PREV_FREE` flag of
//! the following block says when the footer is there. The smallest block is three words (a
//! header and two links; four words on 32-bit targets, where `G` is two words): free, it has no
//! room for a footer, so the header after it also has `PREV_MIN` and the merge finds it
//! `MIN_BLOCK` bytes back. `PREV_MIN` reuses the `FREE` bit, which a header after a free block
//! never needs (free blocks never touch).
//!
//! ```text
//!   used block      [ size|USED|pf|pm ][ payload ..................................... ]
//!   free block      [ size|FREE       ][ next ][ prev ][ ... unused ... ][ footer = &hdr ]
//!   smallest free   [ 3W|FREE         ][ next ][ prev ]      (no footer: next header has pm)
//!   region end      [ 0|pf|pm ][ next region ][ first block ][ region base ][ region end ]
//!                                                                               (trailer)
//!   pf = PREV_FREE, pm = PREV_MIN (the FREE bit, only next to pf)
//!
//!   control block  [ summary | heads × FL·SL | bitmap × ⌈FL·SL/BITS⌉ | regions | count | lo | slots | (key) ]
//!   on Thumb-1     [ summary | regions | count | lo | slots | (key) | bitmap × ⌈FL·SL/BITS⌉ | heads × FL·SL ]
//! ```
//!
//! The control block (the summary, the bitmap words, `FL·SL` list heads, the region list, the
//! heap's address range and, when hardened, the link key) is written at the start of the first region
//! claimed. The `Tlsf` value itself is one pointer, so a `static` heap costs one word of `.bss`.
//!
//! # Properties
//!
//! - **Constant time, no loops.** [`allocate`](Heap::allocate),
//!   [`deallocate`](Heap::deallocate) and the in-place paths of [`grow`](Heap::grow) and
//!   [`shrink`](Heap::shrink) contain no loop at all: the bound is straight-line code with two
//!   bitmap lookups, at most two merges, one split and one look at the first block of the
//!   request's own class; only when that search finds nothing (and on 64-bit targets), a look
//!   at its second and third blocks and a move of one to the head of the list. An allocation
//!   with `align > G` is the same: one search, one removal, two insertions at most (the front
//!   it leaves and a large alignment slack).
//!   A moving `grow` adds the copy of the payload (linear in its size, like `memcpy`). [`claim`](Claim::claim) is linear in
//!   the number of regions and [`validate`](Heap::validate) in the number of blocks.
//! - **Small requests are the fastest.** Sizes below `2·SL` granules (128 bytes with both
//!   defaults) have exact classes: the head of the list fits exactly, no search and no split.
//! - **Low overhead.** One word per allocated block; requests round up to the granule `G`
//!   (8 bytes by default, on 32-bit and 64-bit targets); the smallest block is 16 bytes on
//!   32-bit targets and 24 on 64-bit ones (three words: a free one has no footer). On the
//!   benchmark's recorded serde_json trace (mostly requests below 16 bytes) the span of the
//!   blocks peaks at 1.135 times the peak live bytes on x86-64 (talc 1.192, rlsf 1.243), and
//!   heap efficiency (payload at the first failure, 1 MiB arena, 32 seeds) is 96.1 %.
//! - **Immediate coalescing, in-place realloc.** Free neighbours are merged on every free; `grow`
//!   absorbs a free successor, `shrink` always stays in place.
//! - **Many regions.** Any number of regions; a region that starts where an earlier one ends, or
//!   ends where one starts, is merged with it when both [may merge](Region::may_merge).
//! - **Never panics, never trusts the layout for metadata.** Sizes come from the block header
//!   (the caller's `Layout` is only used for the copy length and alignment of a moving realloc);
//!   all size arithmetic is checked or bounded; alignment up to `2^(BITS−1)` and sizes up to
//!   `isize::MAX` return `None` when they do not fit.
//! - **Cheap checks on free.** A pointer outside the heap's address range, misaligned for a
//!   block, or whose header is not marked used (a double free) is ignored without a write.
//!   Range and alignment are one comparison: the offset from the lowest payload, rotated right
//!   by `log2 G`, must be below the number of payload slots.
//! - **Small static footprint.** A `static` `Tlsf` is one word; all state is in the control
//!   block.
//!
//! # Drawbacks
//!
//! - The control block costs `5 + ⌈FL·SL / usize::BITS⌉ + FL·SL` words (one more when
//!   hardened) inside the first region: 680 bytes with the 32-bit default, 2,056 bytes with
//!   the 64-bit one. Pick smaller `FL`/`SL` for tiny heaps
//!   ([`Tlsf::CONTROL_BLOCK_SIZE`], [`Tlsf::min_first_region_size`]).
//! - Good fit, not best fit: a request that is not the base of its class takes the first
//!   block of its own class if that one is large enough, else a block of the next non-empty
//!   class up, else (64-bit targets) the second or third block of its own class if one fits;
//!   a block of the right size further down its own list is missed (the request fails).
//!   Fragmentation is low but not minimal. On the benchmark's efficiency workload (1 MiB, 32
//!   seeds, 64-bit default) the first failure is, in every seed, a request larger than every
//!   free block, with 1.5 % of the heap free in smaller ones; the rest of the 3.9 % not
//!   allocated is block headers (1.4 %), rounding up to the granule and the smallest block
//!   (0.7 %), the control block (0.2 %) and slack kept in allocated blocks (0.1 %).
//! - Tiny allocations cost a whole smallest block: 24 bytes on 64-bit for any request up to
//!   16 bytes. The three-word smallest block (with `G = 8`) replaced a four-word one (`G =
//!   16`, 32 bytes for any request up to 24 bytes), which alone put the serde_json trace's
//!   block span at 1.188 times its peak live bytes (measured 1.189; now 1.135).
//! - Payloads are only 8-aligned on 64-bit targets: a request with 16-byte alignment (`u128`)
//!   first tries the first block of its exact class, then searches for a block one granule
//!   and a smallest block larger, cut from the front when its payload happens to be aligned,
//!   else from the end with the front filed as a free block. The format change cost x86-64
//!   instructions (callgrind, per call): on the host benchmark's random actions at 3,000 live
//!   blocks (7 % of them 16-aligned) allocate went from 56.6 to 61.7 and free from 47.2 to
//!   49.7; on the BTreeMap program (no 16-aligned requests) from 52.9 to 54.1 and 47.1 to
//!   49.1. A 16-aligned request costs about 83 instead of about 57, the rest is more splits
//!   and merges of small blocks and the `PREV_MIN` tests. 32-bit targets compile `PREV_MIN`
//!   away: Cortex-M3 instruction counts are unchanged.
//! - The largest block is bounded by the configuration ([`Tlsf::MAX_ALLOCATION`]); the part of
//!   a region beyond it is not used (claim a large area as several regions).
//! - Code size: more than a first-fit allocator: about 2.0 KB of Cortex-M3 code at opt-level
//!   `s` for `allocate`, `deallocate`, `grow`, `shrink` and `claim` (about 0.43 KB of it the
//!   over-aligned path with its own search, about 0.36 KB `claim` inlined into a caller that
//!   passes a fixed region), plus about 0.5 KB when
//!   [`validate`](Heap::validate) is linked (`cargo xtask size`, `bench/cortex-m`).
//! - Alignments above `G` search for `size + align − G + MIN_BLOCK` and place the block at
//!   the end of the block found, so a nearly full heap may refuse an aligned request that a
//!   scan would satisfy. The slack behind the payload (less than `align`) is filed as a
//!   second free block when it has at least `8·G` bytes (smaller slack stays in the block), so
//!   an over-aligned allocation costs up to two insertions; on 32-bit targets the second one
//!   goes through the free path (a call and its checks: about 30 Cortex-M3 instructions
//!   more, for about 90 bytes less code).
//!
//! # Changes from the reference algorithm
//!
//! Compared with Masmano et al. (2004) and common implementations:
//! - One mapping formula for all sizes: `s = log2(n | SL) − log2 SL`, index `s·SL + (n >> s)`,
//!   which makes sizes below `2·SL` granules exact classes without a separate branch, and
//!   rounds up with `(n + 2^s − 1) >> s` (a carry lands on the next power of two's first class).
//! - The control block, with all of the heap's state, is placed in the first region instead of
//!   a static or a separate pool.
//! - List heads are pseudo-nodes (above), so unlinking never computes a class, and bitmap bits
//!   are touched only when a list empties or fills.
//! - The second level is one flat bitmap of machine words rather than one `SL`-bit word per
//!   first level, and the first-level bitmap becomes a summary of those words. The search is
//!   the same two lookups, but a word covers several first levels, so it empties and fills
//!   less often: on the Cortex-M3 benchmark the mean free went from 68.8 to 67.4 instructions
//!   and the worst from 110 to 104, and the control block shrank by 60 bytes.
//! - Each region ends in a trailer that links the regions (for overlap checks, adjacency merges
//!   and [`validate`](Heap::validate)) and whose header is a zero-size sentinel. New memory is
//!   written as one used block and freed, so claiming and merging reuse the free path.
//! - The smallest free block is three words (header and links) with no footer, marked by a
//!   flag in the next header, instead of four: the header, links and footer of the
//!   reference. With an 8-byte granule it cut the 64-bit smallest block from 32 to 24 bytes.
//! - Before the rounded-up search, the first block of the request's own class is tried: it
//!   may be large enough (a fresh region, for one, is a single block of any size). This better
//!   fit cut the serde_json trace replay by about 12 % and x86-64 instructions per allocation
//!   by 3–4, and raised heap efficiency slightly. Over-aligned requests try it only when the
//!   search fails.
//! - A small request whose exact class is empty passes over the classes one or two granules
//!   larger, whose rest could not be a free block and would stay in the allocation, for the
//!   next class a smallest block larger; they are taken only if nothing else fits. Heap
//!   efficiency rose from 95.8 % to 96.1 % (64-bit default), for 0.5 to 2.2 more x86-64
//!   instructions per allocation (more splits; frees got up to 1 cheaper). Only the 64-bit
//!   default does it: on 32-bit targets the Cortex-M3 instructions and code matter more, and
//!   with a two-granule smallest block (`G = 16`) it spread the trace replay's blocks.
//!
//! # Invariants
//!
//! Numbered for the `SAFETY` comments that rely on them. `W` is the word size.
//!
//! - **TL1** Every block header is at an address `≡ G − W (mod G)` inside a claimed region, so
//!   payloads are `G`-aligned. Its size is a multiple of `G`, at least `MIN_BLOCK` and at most
//!   `MAX_BLOCK`. The blocks of a region tile `[first block, sentinel)` exactly.
//! - **TL2** A free block's header flags are exactly `FREE`; a used block's header has `USED`;
//!   a region's sentinel has no `USED`, and a size field of 0 or `NO_MERGE` (the region may
//!   not merge, R3).
//! - **TL3** A used block's or sentinel's `PREV_FREE` bit says whether the block physically
//!   before it is free (clear for the first block of a region), and its `PREV_MIN` bit (the
//!   `FREE` bit's position) whether that free block is a smallest block without a footer
//!   (`MIN_BLOCK = 3W`; never with a four-word smallest block). `PREV_MIN` implies
//!   `PREV_FREE`.
//! - **TL4** No two physically adjacent blocks are both free.
//! - **TL5** The last word of a free block larger than three words (its footer) points to its
//!   header. A free block of three words has none (TL3 finds it instead).
//! - **TL6** Each free block is in exactly one list, `heads[floor_index(size / G)]`; lists are
//!   doubly linked (`next`, `prev`), the first block's `prev` is the list's pseudo-node.
//! - **TL7** Bit `b` of `bitmap[w]` is set iff list `w·BITS + b` is non-empty (`BITS` is
//!   `usize::BITS`); bit `w` of `summary` is set iff `bitmap[w] != 0`. No bit at or above
//!   `FL·SL` (resp. the number of bitmap words) is set.
//! - **TL8** Regions do not overlap; each one's trailer follows its sentinel; the control block
//!   lies in the first region before its first block and is part of no block. The region list
//!   runs from the latest region claimed to the first one, whose trailer is the last. The control
//!   block's `lo`/`slots` cover every payload address of every region.
//! - **TL9** Every list link (head slots, `next`, `prev`) is stored as its address XOR the
//!   key: 0 without `HARDENED`; with it, the control block's key word, odd, set at the first
//!   claim and changed only by [`rekey`](TlsfWith::rekey), which re-encodes every link.
//!
//! # Hardened variant
//!
//! `TlsfWith<FL, SL, G, true>` stores its list links encoded (TL9) and, before it unlinks a
//! free block, checks that its links decode to blocks of the heap that link back to it, and
//! that a footer it follows (or `PREV_MIN`) names a free block ending where it should. A write after free
//! over a link or footer then becomes a [`FaultKind::CorruptLink`](crate::fault::FaultKind)
//! report instead of a wild write: `allocate` returns `None`, a free or resize that would
//! merge with the damaged block is refused (its block stays allocated) and nothing is
//! written. [`validate`](Heap::validate) sees the damage too. The plain heap (`HARDENED =
//! false`, the default) compiles all of this away. With the `hardened` feature,
//! [`HardenedTlsf`](crate::hardened::HardenedTlsf) adds size records and canaries on top.
//!
//! ```
//! use core::alloc::Layout;
//! use bareheap::{fault, Claim, Heap, HeapMemory, TlsfWith};
//!
//! static MEMORY: HeapMemory<4096> = HeapMemory::new();
//! let mut heap = TlsfWith::<12, 4, 8, true>::new();
//! heap.claim(MEMORY.take().unwrap()).unwrap();
//! heap.rekey(0x5eed).unwrap(); // e.g. from a hardware RNG
//!
//! let l = Layout::from_size_align(64, 8).unwrap();
//! let (a, b) = (heap.allocate(l).unwrap(), heap.allocate(l).unwrap());
//! // SAFETY: `a` is live with `l`.
//! unsafe { heap.deallocate(a, l) };
//! // A use after free writes over the freed block's first link word.
//! // SAFETY: deliberately the bug under test: `a`'s memory is the heap's free block.
//! unsafe { a.as_ptr().cast::<usize>().write(0x4141_4141) };
//! let before = fault::count();
//! assert!(heap.validate().is_err());
//! // Freeing `b` would merge with the damaged block: refused and reported.
//! // SAFETY: `b` is live with `l`.
//! unsafe { heap.deallocate(b, l) };
//! assert_eq!(fault::count(), before + 1);
//! ```
//!
//! # Examples
//!
//! The lifecycle: nothing is allocatable before a region is claimed; a claimed region serves
//! allocations until it is exhausted; freeing makes room again.
//!
//! ```
//! use core::alloc::Layout;
//! use bareheap::{Claim, Heap, HeapMemory, Tlsf};
//!
//! static MEMORY: HeapMemory<16384> = HeapMemory::new();
//!
//! let mut heap = Tlsf::new();
//! let layout = Layout::new::<[u64; 32]>();
//! assert!(heap.allocate(layout).is_none(), "no memory before a region is claimed");
//!
//! let usable = heap.claim(MEMORY.take().unwrap()).unwrap();
//! assert!(usable > 16384 - Tlsf::min_first_region_size());
//!
//! let mut blocks = Vec::new();
//! while let Some(p) = heap.allocate(layout) {
//!     blocks.push(p);
//! }
//! assert!(blocks.len() * layout.size() > usable * 9 / 10, "little is lost to overhead");
//!
//! for p in blocks.drain(..) {
//!     // SAFETY: `p` was allocated above with `layout` and is freed once.
//!     unsafe { heap.deallocate(p, layout) };
//! }
//! heap.validate().unwrap();
//! assert!(heap.allocate(Layout::from_size_align(usable - 64, 8).unwrap()).is_some());
//! ```

mod mapping;
#[cfg(test)]
mod tests;

use core::alloc::Layout;
use core::mem::size_of;
use core::ptr::{self, NonNull};

use crate::heap::{Claim, Corruption, Heap};
use crate::sanitize;
use crate::stats::HeapStats;
use crate::{Region, RegionError};

#[cfg(test)]
use self::mapping::class_base;
use self::mapping::{ceil_index, floor_index, floor_index_bytes};

/// The word size: header, links and footer are one word each.
const W: usize = size_of::<usize>();

/// Header flag: the block is free and in a list (TL2, TL6).
const FREE: usize = 1;
/// Header flag: the block physically before this one is free, so the word before this header is
/// its footer (TL3, TL5), unless `PREV_MIN` is set too. Also set on a sentinel.
const PREV_FREE: usize = 2;
/// Header flag of a block that is not free (used, or a sentinel) with `PREV_FREE`: the free
/// block before it is a smallest block of three words, which has no room for a footer, so it
/// starts `MIN_BLOCK` bytes before this header (TL3, TL5). The same bit as `FREE`: a free block
/// always follows a used one (TL4), so its own `PREV_FREE` and `PREV_MIN` are clear, and a
/// header after a used block (the only one the free path tests for `FREE`) has `PREV_MIN`
/// clear. Only configurations with a three-word smallest block set it (`MIN_BLOCK < 4W`, such
/// as the 64-bit default); the others compile it away.
const PREV_MIN: usize = 1;
/// Header flag: the block is allocated (TL2). Never set on a sentinel, so a pointer just past a
/// region's last block is not taken for an allocation.
const USED: usize = 4;
/// All flag bits; the rest of the header is the size. `G >= 8` keeps them out of the size.
const FLAGS: usize = FREE | PREV_FREE | USED;
/// Sentinel mark: the region must not merge with a touching one ([`Region::may_merge`], R3).
/// It sits in the size field, which is otherwise zero in a sentinel; no path reads a
/// sentinel's size (only its `FREE`, `USED` and `PREV_FREE` bits).
const NO_MERGE: usize = 8;

/// Word offsets in a free block, after the header.
const NEXT: usize = W;
/// The previous free block in the same list, or null for the head.
const PREV: usize = 2 * W;

/// Trailer fields, as byte offsets from the sentinel header.
const T_NEXT: usize = W;
/// Header of the region's first block (a pointer).
const T_FIRST: usize = 2 * W;
/// The region's start address as donated.
const T_BASE: usize = 3 * W;
/// The region's end address as donated.
const T_END: usize = 4 * W;
/// Bytes a region's trailer occupies, from the sentinel header on.
const TRAILER: usize = 5 * W;

/// Control block fields, in words from its start: the summary (the list heads follow it, then
/// the bitmaps and the other fields: `TlsfWith::C_HEADS` and after).
const C_SUMMARY: usize = 0;

#[cfg(target_pointer_width = "64")]
mod defaults {
    pub(super) const FL: usize = 31;
    pub(super) const SL: usize = 8;
    pub(super) const G: usize = 8;
}
#[cfg(not(target_pointer_width = "64"))]
mod defaults {
    pub(super) const FL: usize = 20;
    pub(super) const SL: usize = 8;
    pub(super) const G: usize = 8;
}

/// The default number of first-level classes: 20 on 32-bit targets (blocks up to 32 MiB), 31 on
/// 64-bit ones (blocks up to 64 GiB).
pub const DEFAULT_FL: usize = defaults::FL;
/// The default number of second-level classes per first level: 8 (more barely changes
/// fragmentation in measurements, and costs control-block memory: on 64-bit, `TlsfWith<30, 16,
/// 8>` measured 95.79 % heap efficiency against 95.84 %, the same serde_json footprint, and
/// a 3,944-byte control block).
pub const DEFAULT_SL: usize = defaults::SL;
/// The default granule: 8 bytes (every payload is aligned to it). On 64-bit targets that makes
/// the smallest block three words, with no footer when free, and 16-byte alignment takes its
/// own path (see the module's Drawbacks). A 16-byte granule (`TlsfWith<30, 8, 16>`) aligns
/// every payload to 16 and allocates with fewer instructions, but costs 8 bytes on most
/// small blocks (serde_json trace: block span 1.189 instead of 1.135 times the peak live
/// bytes).
pub const DEFAULT_G: usize = defaults::G;

/// The two-level segregated-fit heap with the default parameters for the target: O(1) allocate,
/// free and in-place realloc. See the [module documentation](self) for the algorithm,
/// invariants and costs, and [`TlsfWith`] to tune it.
///
/// | target | `Tlsf` is | control block | largest block | exact classes up to |
/// | --- | --- | --- | --- | --- |
/// | 32-bit | `TlsfWith<20, 8, 8>` | 680 bytes | 32 MiB | 128 bytes |
/// | 64-bit | `TlsfWith<31, 8, 8>` | 2,056 bytes | 64 GiB | 128 bytes |
///
/// # Examples
///
/// A global allocator (`Tlsf` is one word; its control block goes into the memory given):
///
/// ```
/// use core::alloc::{GlobalAlloc, Layout};
/// use bareheap::{HeapMemory, Locked, Spin, Tlsf};
///
/// static MEMORY: HeapMemory<16384> = HeapMemory::new();
/// static HEAP: Locked<Spin, Tlsf> = Locked::new(Tlsf::new());
///
/// HEAP.claim(MEMORY.take().unwrap()).unwrap();
/// let layout = Layout::new::<[u32; 4]>();
/// // SAFETY: `layout` has a non-zero size; the block is freed with the same layout.
/// unsafe {
///     let p = HEAP.alloc(layout);
///     assert!(!p.is_null());
///     HEAP.dealloc(p, layout);
/// }
/// assert_eq!(core::mem::size_of::<Tlsf>(), core::mem::size_of::<usize>());
/// ```
pub type Tlsf = TlsfWith<DEFAULT_FL, DEFAULT_SL, DEFAULT_G>;

/// A two-level segregated-fit heap with chosen parameters; [`Tlsf`] is the default.
///
/// # Parameters
///
/// - `FL`: first-level classes (`1..usize::BITS`). The largest block is
///   `G · (SL · 2^(FL−1) − 1)` bytes.
/// - `SL`: second-level classes per first level, a power of two up to `usize::BITS`. More means
///   less fragmentation and a larger control block; sizes below `2 · SL · G` get exact classes.
/// - `G`: the granule in bytes, a power of two, at least 8 and at least the word size. Every
///   block is a multiple of it and every payload is aligned to it.
/// - `HARDENED` (default `false`): store the free-list links encoded and check them before
///   use ([hardened variant](self#hardened-variant)); the control block gains one word.
///
/// The control block takes `5 + ⌈FL · SL / usize::BITS⌉ + FL · SL` words of the first region
/// ([`CONTROL_BLOCK_SIZE`](Self::CONTROL_BLOCK_SIZE)). A small heap on a microcontroller may
/// prefer, say, `TlsfWith<12, 4, 8>` (blocks up to 64 KiB, a 220-byte control block on 32-bit).
///
/// Invalid parameters fail to compile:
///
/// ```compile_fail
/// let heap = bareheap::TlsfWith::<0, 16, 8>::new(); // FL must be at least 1
/// ```
///
/// ```
/// use bareheap::{Claim, Heap, HeapMemory, TlsfWith};
/// static MEMORY: HeapMemory<2048> = HeapMemory::new();
///
/// let mut heap = TlsfWith::<12, 4, 8>::new();
/// heap.claim(MEMORY.take().unwrap()).unwrap();
/// assert!(heap.allocate(core::alloc::Layout::new::<u64>()).is_some());
/// ```
pub struct TlsfWith<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool = false>
{
    /// The control block, or null before the first claim (TL8). Everything else lives in it,
    /// so that a `static` heap is one word and every operation reaches its state through one
    /// pointer.
    ctrl: *mut usize,
    #[cfg(test)]
    probe: tests::Probe,
}

// SAFETY: a `Tlsf` owns the memory of the regions it claimed (each `Region` was an exclusive,
// `Send` claim, R2) and nothing else points into its metadata, so moving it to another thread
// moves that ownership. It has no interior mutability, so `&Tlsf` shares nothing mutable.
unsafe impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool> Send
    for TlsfWith<FL, SL, G, HARDENED>
{
}

impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool> Default
    for TlsfWith<FL, SL, G, HARDENED>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Why a pointer given to `deallocate` was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InvalidFree {
    /// Outside the address range of every region.
    Outside,
    /// Not aligned to the granule, so not a payload address.
    Misaligned,
    /// Its header is not marked used: a double free, a sentinel or a foreign pointer.
    NotUsed,
}

impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool>
    TlsfWith<FL, SL, G, HARDENED>
{
    const SL_LOG2: u32 = SL.trailing_zeros();
    const G_LOG2: u32 = G.trailing_zeros();
    /// Number of size classes (lists).
    const CLASSES: usize = FL * SL;
    /// Bits per bitmap word.
    const BITS: usize = usize::BITS as usize;
    /// Bitmap words: one bit per class.
    const WORDS: usize = Self::CLASSES.div_ceil(Self::BITS);
    /// Smallest block: a header and two links, rounded up to the granule. A free block of
    /// three words has no footer; the header after it says so with `PREV_MIN` (TL3, TL5).
    const MIN_BLOCK: usize = (3 * W).next_multiple_of(G);
    const MIN_UNITS: usize = Self::MIN_BLOCK >> Self::G_LOG2;
    /// Whether the smallest block has no room for a footer (three words: `G < 4W`, the 64-bit
    /// default), so that `PREV_MIN` is in use. A constant: the 32-bit default's smallest block
    /// is four words and compiles every `PREV_MIN` test away.
    const TINY: bool = Self::MIN_BLOCK < 4 * W;
    /// The header bits that describe the block before: `PREV_FREE`, and `PREV_MIN` when
    /// [`TINY`](Self::TINY).
    const PREV_BITS: usize = if Self::TINY { PREV_FREE | PREV_MIN } else { PREV_FREE };
    /// Alignment slack behind an over-aligned payload below this many bytes stays in the
    /// allocated block (it is less than the alignment) instead of becoming a free block: one
    /// list insertion fewer for the small alignments that are common, while a large slack
    /// (from page alignment, say) still goes back to the heap.
    const KEEP_SLACK: usize = 8 * G;
    /// Whether a small request whose exact class is empty passes over the classes less than a
    /// smallest block larger ([`find_exact`](Self::find_exact)): on 64-bit targets, where the
    /// heap efficiency benchmark runs (95.85 % to 96.07 % of the arena at the first failure).
    /// It costs instructions, as more blocks are split (callgrind, x86-64, per call): random
    /// actions at 3,000 live blocks, allocate 61.6 to 62.1, free unchanged; the serde_json
    /// trace replay, allocate +2.2 (+3.2 %), free −1.05 (−1.5 %), block span 1.1346 to
    /// 1.1341 times the peak live bytes. On Cortex-M3 it cost 0.6 instructions per allocation
    /// (1.0 on small objects) and 28 bytes of code, so 32-bit targets keep the plain search.
    /// It pays only where the smallest block is three granules (the 64-bit default, `G = 8`):
    /// with `G = 16` (a two-granule smallest block) it raised efficiency 95.27 % to 95.43 %
    /// but the replay's block span from 1.19 to 1.26 times the peak live bytes.
    const SKIP_NEAR: bool = cfg!(target_pointer_width = "64") && Self::MIN_UNITS > 2;
    /// Whether bitmap and summary words count their offsets from the top bit down (offset `b`
    /// is bit `BITS − 1 − b`), so that finding the lowest non-empty list is one `leading_zeros`:
    /// on ARM with Thumb-2, a `clz` without the `rbit` that `trailing_zeros` needs, and a bit
    /// mask one `ror` of a constant by an unreduced index. Not on x86-64, where
    /// `leading_zeros` is the dearer one, nor on ARMv6-M (no `clz`). The host tests run both
    /// orders (configurations with an even `FL` count from the top).
    const TOP_DOWN: bool =
        cfg!(all(target_arch = "arm", target_has_atomic = "ptr")) || (cfg!(test) && FL % 2 == 0);
    /// Largest block, in granules: the top of class `CLASSES − 1`.
    const MAX_UNITS: usize = (SL << (FL - 1)) - 1;
    /// Largest block in bytes; a region never spans more (TL1).
    const MAX_BLOCK: usize = Self::MAX_UNITS << Self::G_LOG2;
    /// Whether the list heads come right after the summary, so that the pseudo-node of list 0
    /// (one word before its head slot) is the control block's own address, and a
    /// pseudo-node's list is its offset from it divided by `W`
    /// ([`pseudo_node_index`](Self::pseudo_node_index): one subtraction fewer than with the
    /// heads last, paid by every unlink that empties a list). Cortex-M3 (opt-level s), from
    /// the heads last: alloc mean 70.9 to 70.6, free 59.6 / max 103 to 59.1 / 101, for 20
    /// bytes of code (the bitmap words are no longer in reach of 16-bit loads); x86-64
    /// instructions per call (callgrind) fell 0.2–1.7 %. Not on Thumb-1 (ARMv6-M), whose
    /// loads reach only 124 bytes past a base register: with the heads first, every bitmap,
    /// `lo` and `slots` load needed its offset built in a register (Cortex-M0: alloc mean
    /// 108.3 against 102.9 with the heads last, free 89.7 against 86.3, 112 bytes more code).
    /// The host tests run both layouts, each with both bit orders ([`TOP_DOWN`](Self::TOP_DOWN)):
    /// configurations with an odd `SL` or `FL` a multiple of 4 put the heads last.
    const HEADS_FIRST: bool = !(cfg!(target_arch = "arm") && !mapping::HAS_CLZ)
        && !(cfg!(test) && (SL % 2 == 1 || FL % 4 == 0));
    /// Offset of the list heads in the control block, in words.
    const C_HEADS: usize = if Self::HEADS_FIRST { C_SUMMARY + 1 } else { Self::C_SL + Self::WORDS };
    /// Offset of the bitmap words in the control block, in words.
    const C_SL: usize = if Self::HEADS_FIRST {
        C_SUMMARY + 1 + Self::CLASSES
    } else {
        Self::C_REGIONS + 4 + HARDENED as usize
    };
    /// The first region trailer (a pointer).
    const C_REGIONS: usize =
        if Self::HEADS_FIRST { C_SUMMARY + 1 + Self::CLASSES + Self::WORDS } else { C_SUMMARY + 1 };
    /// How many regions the list holds (bounds the walk of `validate`).
    const C_REGION_COUNT: usize = Self::C_REGIONS + 1;
    /// The lowest payload address of any region.
    const C_LO: usize = Self::C_REGIONS + 2;
    /// Every payload is `lo + k·G` with `k < slots`: `slots = ⌈(hi − lo) / G⌉`, where `hi`
    /// is the highest sentinel address. Stored as `slots << SLOTS_SHIFT`.
    const C_SLOTS: usize = Self::C_REGIONS + 3;
    /// Whether the control block holds `slots` in bytes (`slots·G`) and the free path tests a
    /// pointer's offset from `lo` by an alignment mask and one compare with it, rather than
    /// rotating the offset by `G_LOG2` and comparing with `slots`: on RISC-V without Zbb,
    /// which has no rotate (three instructions: two shifts and an `or`), the mask test and
    /// its branch are one instruction fewer. RV32IMAC, per call (QEMU, opt-level s): free
    /// mean 63.8 / max 126 to 62.8 / 125, realloc 221.8 to 221.0, same code size. Elsewhere
    /// the rotation is one instruction (Cortex-M3 and x86-64 `ror`) or as short as the test
    /// (Cortex-M0: `movs` and `rors` against `lsls` and `bne`). The host tests run both
    /// (configurations with `FL` a multiple of 3 keep bytes).
    const BYTE_BOUND: bool = (cfg!(any(target_arch = "riscv32", target_arch = "riscv64"))
        && !cfg!(target_feature = "zbb"))
        || (cfg!(test) && FL % 3 == 0);
    /// `slots` is stored shifted left by this.
    const SLOTS_SHIFT: u32 = if Self::BYTE_BOUND { Self::G_LOG2 } else { 0 };
    /// With `HARDENED` only: the key free-list links are stored with (TL9).
    const C_KEY: usize = Self::C_REGIONS + 4;
    /// Words of the control block.
    const CTRL_WORDS: usize = 1 + Self::CLASSES + Self::WORDS + 4 + HARDENED as usize;

    /// Compile-time check of the parameters; evaluated by [`TlsfWith::new`].
    const VALID: () = {
        assert!(
            G.is_power_of_two() && G >= 8 && G >= W,
            "Tlsf: G must be a power of two >= 8 and >= the word size"
        );
        assert!(
            SL.is_power_of_two() && SL <= usize::BITS as usize,
            "Tlsf: SL must be a power of two <= usize::BITS"
        );
        assert!(FL >= 1 && FL < usize::BITS as usize, "Tlsf: FL must be in 1..usize::BITS");
        assert!(
            (FL - 1) as u32 + SL.trailing_zeros() + G.trailing_zeros() < usize::BITS - 1,
            "Tlsf: G * SL << (FL - 1) must fit in isize"
        );
        assert!(
            Self::MAX_UNITS >= Self::MIN_UNITS,
            "Tlsf: the largest block is below the smallest one"
        );
    };

    /// Bytes of the control block placed at the start of the first region.
    pub const CONTROL_BLOCK_SIZE: usize = Self::CTRL_WORDS * W;

    /// Bytes each allocation costs on top of its size rounded up to `G`: one header word.
    pub const OVERHEAD_PER_ALLOCATION: usize = W;

    /// The largest size [`allocate`](Heap::allocate) can ever satisfy (with alignment `<= G`).
    pub const MAX_ALLOCATION: usize = Self::MAX_BLOCK - W;

    /// An empty heap; claim memory with [`Claim::claim`]. Costs one word (no control block
    /// until the first claim).
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID;
        TlsfWith {
            ctrl: ptr::null_mut(),
            #[cfg(test)]
            probe: tests::Probe::new(),
        }
    }

    /// The least length of the first region claimed, when its base is aligned to `G`: control
    /// block, one smallest block and the trailer. A region this long is accepted; with an
    /// unaligned base, add `G − 1`.
    pub const fn min_first_region_size() -> usize {
        (Self::CONTROL_BLOCK_SIZE + W).next_multiple_of(G) - W + Self::MIN_BLOCK + TRAILER
    }

    /// The least length of a later region, when its base is aligned to `G`: one smallest block
    /// and the trailer. With an unaligned base, add `G − 1`.
    pub const fn min_region_size() -> usize {
        G - W + Self::MIN_BLOCK + TRAILER
    }

    /// The block size (header included) that an allocation of `size` bytes with alignment
    /// `<= G` occupies: `size + W` rounded up to `G`, at least the smallest block. `None` when
    /// above [`MAX_ALLOCATION`](Self::MAX_ALLOCATION).
    pub const fn block_size(size: usize) -> Option<usize> {
        if size > Self::MAX_ALLOCATION {
            return None;
        }
        Some(Self::units_for(size) << Self::G_LOG2)
    }

    /// Granules of the block for a payload of `size <= isize::MAX` bytes. Never overflows:
    /// `isize::MAX + W + G` fits in `usize`.
    #[inline(always)]
    const fn units_for(size: usize) -> usize {
        let units = (size + W + G - 1) >> Self::G_LOG2;
        if units < Self::MIN_UNITS {
            Self::MIN_UNITS
        } else {
            units
        }
    }

    /// [`units_for`](Self::units_for) for a size the caller did not bound (realloc targets).
    #[inline(always)]
    fn units_checked(size: usize) -> Option<usize> {
        if size > isize::MAX as usize {
            return None;
        }
        Some(Self::units_for(size))
    }

    // ---- control block access -----------------------------------------------------------
    //
    // The helpers take the control block pointer as an argument: reading it once per operation
    // saves reloads after every raw store (which the compiler must assume may alias `self`).

    /// The summary word: bit `w` says bitmap word `w` is not zero (TL7).
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block (TL8).
    #[inline(always)]
    unsafe fn summary(ctrl: *mut usize) -> *mut usize {
        // SAFETY: the control block has `CTRL_WORDS > C_SUMMARY` words (caller).
        unsafe { ctrl.add(C_SUMMARY) }
    }

    /// Bitmap word `w`: bit `b` says list `w·BITS + b` is non-empty (TL7).
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block and `w < WORDS`.
    #[inline(always)]
    unsafe fn bitmap(ctrl: *mut usize, w: usize) -> *mut usize {
        // SAFETY: `C_SL + w < C_SL + WORDS <= CTRL_WORDS` (caller: `w < WORDS`).
        unsafe { ctrl.add(Self::C_SL + w) }
    }

    /// The head slot of list `idx`.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block and `idx < FL·SL`.
    #[inline(always)]
    unsafe fn head(ctrl: *mut usize, idx: usize) -> *mut *mut u8 {
        // SAFETY: `C_HEADS + idx < CTRL_WORDS` (caller: `idx < CLASSES`); heads are
        // pointer-sized words.
        unsafe { ctrl.add(Self::C_HEADS + idx).cast() }
    }

    /// The class of a block of `size` bytes: `floor_index(size / G)`.
    #[inline(always)]
    const fn class_of_bytes(size: usize) -> usize {
        floor_index_bytes(size, Self::SL_LOG2, Self::G_LOG2)
    }

    /// The pseudo-node of list `idx`: the address whose `NEXT` field is the list's head slot.
    /// The first block of a list has it as `prev` (TL6), so unlinking never needs the class.
    /// Only its `NEXT` field is ever accessed.
    #[inline(always)]
    fn pseudo_node(head: *mut *mut u8) -> *mut u8 {
        head.cast::<u8>().wrapping_sub(NEXT)
    }

    /// The list whose pseudo-node is `p`, if `p` is one.
    #[inline(always)]
    fn pseudo_node_index(ctrl: *mut usize, p: *mut u8) -> Option<usize> {
        // With the heads first, `C_HEADS * W == NEXT` and this folds to `p − ctrl`.
        let off = (p.addr() + NEXT).wrapping_sub(ctrl.addr() + Self::C_HEADS * W);
        if off < Self::CLASSES * W {
            Some(off / W)
        } else {
            None
        }
    }

    /// The key free-list links are stored with (TL9): a constant 0 without `HARDENED`, so
    /// that the plain heap compiles the encoding away.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block.
    #[inline(always)]
    unsafe fn key(ctrl: *mut usize) -> usize {
        if HARDENED {
            // SAFETY: with `HARDENED` the control block has its key at `C_KEY < CTRL_WORDS`
            // (caller).
            unsafe { ctrl.add(Self::C_KEY).read() }
        } else {
            0
        }
    }

    /// Reads the link at `b + off` (a head slot with `off = 0`, or a free block's `NEXT` or
    /// `PREV`), decoded (TL9). Provenance travels with the stored pointer.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block; `b + off` is a head slot or a link word of a free block.
    #[inline(always)]
    unsafe fn load(ctrl: *mut usize, b: *mut u8, off: usize) -> *mut u8 {
        // SAFETY: caller contract.
        let key = unsafe { Self::key(ctrl) };
        // SAFETY: caller contract.
        unsafe { word(b, off) }.map_addr(|a| a ^ key)
    }

    /// Writes `v` encoded (TL9) to the link at `b + off`.
    ///
    /// # Safety
    ///
    /// As for [`load`](Self::load); the word is not part of a live allocation.
    #[inline(always)]
    unsafe fn store(ctrl: *mut usize, b: *mut u8, off: usize, v: *mut u8) {
        // SAFETY: caller contract.
        let key = unsafe { Self::key(ctrl) };
        // SAFETY: caller contract.
        unsafe { set_word(b, off, v.map_addr(|a| a ^ key)) }
    }

    /// The first block of list `idx`, or null.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block and `idx < FL·SL`.
    #[inline(always)]
    unsafe fn first(ctrl: *mut usize, idx: usize) -> *mut u8 {
        // SAFETY: caller contract; a head slot is a link word.
        unsafe { Self::load(ctrl, Self::head(ctrl, idx).cast(), 0) }
    }

    /// Whether `x` is a block header position of the heap's address range: the payload
    /// range check of `deallocate`, applied to `x + W`.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block.
    #[inline(always)]
    unsafe fn in_range(ctrl: *mut usize, x: *mut u8) -> bool {
        // SAFETY: caller contract.
        let (lo, bound) = unsafe { (ctrl.add(Self::C_LO).read(), ctrl.add(Self::C_SLOTS).read()) };
        !Self::outside(x.addr().wrapping_add(W).wrapping_sub(lo), bound)
    }

    /// Whether `off`, a pointer's offset from `lo`, is no payload slot (not below `slots`
    /// slots, or not a multiple of `G`); `bound` is the stored word at `C_SLOTS`.
    #[inline(always)]
    fn outside(off: usize, bound: usize) -> bool {
        if Self::BYTE_BOUND {
            off % G != 0 || off >= bound
        } else {
            // One comparison for both range and alignment: rotating the offset moves any
            // misaligned low bits to the top, beyond every slot number.
            off.rotate_right(Self::G_LOG2) >= bound
        }
    }

    /// With `HARDENED`: whether the links of free block `b` are sound (TL6, TL9): `next` is
    /// null or a block position whose `prev` is `b`, and `prev` is a pseudo-node or a block
    /// position whose `next` is `b`. A write after free over a link decodes to a random
    /// address, which these checks refuse before anything follows it. Always true without
    /// `HARDENED`.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block and `b` a free block's header.
    #[inline(never)]
    unsafe fn links_sound(ctrl: *mut usize, b: *mut u8) -> bool {
        if !HARDENED {
            return true;
        }
        // SAFETY: `b` is a free block: its link words are in it (caller). A link is followed
        // only once it is known to be a block position or a pseudo-node of the heap.
        unsafe {
            let n = Self::load(ctrl, b, NEXT);
            let p = Self::load(ctrl, b, PREV);
            let next_ok =
                n.is_null() || (Self::in_range(ctrl, n) && Self::load(ctrl, n, PREV) == b);
            next_ok
                && (Self::pseudo_node_index(ctrl, p).is_some() || Self::in_range(ctrl, p))
                && Self::load(ctrl, p, NEXT) == b
        }
    }

    /// With `HARDENED`: whether the free neighbours that freeing used block `b` (header `hv`)
    /// merges with are sound: the footer before `b` (or `PREV_MIN`) names a free block that
    /// ends at `b` (TL3, TL5), and both neighbours' links pass
    /// [`links_sound`](Self::links_sound).
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block; `b` is a used block and `hv` its header.
    #[inline(never)]
    unsafe fn neighbours_sound(ctrl: *mut usize, b: *mut u8, hv: usize) -> bool {
        // SAFETY: a block is followed by a block or the sentinel (TL1); the block before a
        // block with `PREV_FREE` is found in the heap (TL3, TL5), followed only once in range.
        unsafe {
            let n = b.add(hv & !FLAGS);
            if word_usize(n, 0) & FREE != 0 && !Self::links_sound(ctrl, n) {
                return false;
            }
            if hv & PREV_FREE == 0 {
                return true;
            }
            let p = Self::prev_free(b, hv);
            if !Self::in_range(ctrl, p) {
                return false;
            }
            let pv = word_usize(p, 0);
            pv & FREE != 0
                && p.addr().wrapping_add(pv & !FLAGS) == b.addr()
                && Self::links_sound(ctrl, p)
        }
    }

    /// The header of the free block before block `b`, whose header `hv` has `PREV_FREE`:
    /// `MIN_BLOCK` bytes back when `PREV_MIN` says it is a smallest block without a footer,
    /// else where its footer points (TL3, TL5).
    ///
    /// # Safety
    ///
    /// `b` is a header with `PREV_FREE` set in `hv` (its header), so the word before it is heap
    /// memory.
    #[inline(always)]
    unsafe fn prev_free(b: *mut u8, hv: usize) -> *mut u8 {
        if Self::TINY && hv & PREV_MIN != 0 {
            b.wrapping_sub(Self::MIN_BLOCK)
        } else {
            // SAFETY: caller contract: the word before `b` is the footer (TL5).
            unsafe { footer_before(b) }
        }
    }

    /// Writes the end mark of free block `b` of `size` bytes that the next block uses to find
    /// it (TL3, TL5): the footer, or, for a smallest block without room for one
    /// ([`TINY`](Self::TINY)), `PREV_MIN` in the header after it, which must already have
    /// `PREV_FREE` and not `PREV_MIN`. In a block of more than three words the footer is not a
    /// link word, so this may come before or after filing `b`.
    ///
    /// # Safety
    ///
    /// `b` is a block of `size >= MIN_BLOCK` bytes that is becoming free, followed by a header
    /// (TL1).
    #[inline(always)]
    unsafe fn set_end(b: *mut u8, size: usize) {
        if Self::TINY && size == Self::MIN_BLOCK {
            // SAFETY: caller contract: `b + size` is the next header.
            unsafe {
                let n = b.add(size);
                set_word_usize(n, 0, word_usize(n, 0) | PREV_MIN);
            }
        } else {
            // SAFETY: caller contract.
            unsafe { set_footer(b, size) }
        }
    }

    /// Reports a damaged free-list link or footer found at `addr` (`HARDENED` only).
    #[cold]
    #[inline(never)]
    fn corrupt_link(addr: usize) {
        crate::fault::report(
            crate::fault::HeapKind::Tlsf,
            crate::fault::FaultKind::CorruptLink,
            addr,
        );
    }

    // ---- bit order -----------------------------------------------------------------------
    //
    // Bit order within a bitmap or summary word: list (or word) offset `b` is bit `b`, or bit
    // `BITS − 1 − b` with `TOP_DOWN`. These helpers are the only code that knows which.

    /// The bit of offset `i` (taken modulo `BITS`, so a list index needs no reduction).
    #[inline(always)]
    fn bit(i: usize) -> usize {
        if Self::TOP_DOWN {
            // A rotation takes its amount modulo `BITS`: one `ror` of a constant on Thumb-2.
            (1usize << (Self::BITS - 1)).rotate_right(i as u32)
        } else {
            1 << (i % Self::BITS)
        }
    }

    /// The lowest offset whose bit is set in `bits` (not zero).
    #[inline(always)]
    fn lowest(bits: usize) -> usize {
        if Self::TOP_DOWN {
            bits.leading_zeros() as usize
        } else {
            bits.trailing_zeros() as usize
        }
    }

    /// The highest offset whose bit is set in `bits` (not zero).
    #[inline(always)]
    fn highest(bits: usize) -> usize {
        if Self::TOP_DOWN {
            Self::BITS - 1 - bits.trailing_zeros() as usize
        } else {
            Self::BITS - 1 - bits.leading_zeros() as usize
        }
    }

    /// `bits` moved down by `n < BITS` offsets: offset `n` becomes offset 0, lower ones go.
    #[inline(always)]
    fn down(bits: usize, n: usize) -> usize {
        if Self::TOP_DOWN {
            bits << n
        } else {
            bits >> n
        }
    }

    /// `bits` without the offsets up to `n < BITS`: two shifts, as `n + 1` may be `BITS`.
    #[inline(always)]
    fn beyond(bits: usize, n: usize) -> usize {
        if Self::TOP_DOWN {
            bits & (usize::MAX >> 1 >> n)
        } else {
            bits & (usize::MAX << 1 << n)
        }
    }

    /// `bits` without the offsets below `n < BITS`.
    #[inline(always)]
    fn from(bits: usize, n: usize) -> usize {
        if Self::TOP_DOWN {
            bits & (usize::MAX >> n)
        } else {
            bits & (usize::MAX << n)
        }
    }

    /// Sets the bitmap bits of list `idx`, which has just become non-empty (TL7). Inline:
    /// every list operation may need it, and a call is smaller than a copy.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block and `idx < FL·SL`.
    #[inline(always)]
    unsafe fn set_bits(ctrl: *mut usize, idx: usize) {
        // SAFETY: caller contract. Told to the compiler, so that `1 << w` needs no masking of
        // `w` to the word width (`w < WORDS <= BITS`).
        unsafe { core::hint::assert_unchecked(idx < Self::CLASSES) };
        let w = idx / Self::BITS;
        // SAFETY: `w < WORDS` because `idx < FL·SL` (caller); both words are in the control
        // block.
        unsafe {
            let p = Self::bitmap(ctrl, w);
            let old = p.read();
            p.write(old | Self::bit(idx));
            if old == 0 {
                // The first non-empty list of this word.
                let s = Self::summary(ctrl);
                s.write(s.read() | Self::bit(w));
            }
        }
    }

    /// Clears the bitmap bits of list `idx`, which has just become empty (TL7). Out of line,
    /// like [`set_bits`](Self::set_bits).
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block and `idx < FL·SL`.
    #[inline(always)]
    unsafe fn clear_bits(ctrl: *mut usize, idx: usize) {
        // SAFETY: caller contract. Told to the compiler, so that `1 << w` needs no masking of
        // `w` to the word width (`w < WORDS <= BITS`).
        unsafe { core::hint::assert_unchecked(idx < Self::CLASSES) };
        let w = idx / Self::BITS;
        // SAFETY: `w < WORDS` because `idx < FL·SL` (caller); both words are in the control
        // block.
        unsafe {
            let p = Self::bitmap(ctrl, w);
            let bits = p.read() & !Self::bit(idx);
            p.write(bits);
            if bits == 0 {
                let s = Self::summary(ctrl);
                s.write(s.read() & !Self::bit(w));
            }
        }
    }

    /// Files free block `b` of `size` bytes at the head of its list (TL6, TL7). Its header and
    /// footer are the caller's business.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block; `b` is a block of `size` bytes (TL1) that is in no list.
    #[inline(always)]
    unsafe fn link(ctrl: *mut usize, b: *mut u8, size: usize) {
        // SAFETY: caller contract; `size <= MAX_BLOCK` (TL1) gives `idx < CLASSES`.
        unsafe { Self::link_in(ctrl, b, Self::class_of_bytes(size), size) }
    }

    /// [`link`](Self::link) into list `idx`, the class of `size`.
    ///
    /// # Safety
    ///
    /// As for [`link`](Self::link), and `idx = floor_index(size / G)`.
    #[inline(always)]
    unsafe fn link_in(ctrl: *mut usize, b: *mut u8, idx: usize, size: usize) {
        // SAFETY: `idx` is the class of `size <= MAX_BLOCK` (caller, TL1): `idx < CLASSES`.
        let head = unsafe { Self::head(ctrl, idx) };
        // SAFETY: `head` is in the control block; `b` has at least `MIN_BLOCK` bytes, so its
        // link words are inside it; a list's first block is a free block (TL6).
        unsafe {
            let n = Self::load(ctrl, head.cast(), 0);
            Self::store(ctrl, b, NEXT, n);
            Self::store(ctrl, b, PREV, Self::pseudo_node(head));
            Self::store(ctrl, head.cast(), 0, b);
            if n.is_null() {
                // The list was empty: its bits were clear (TL7).
                Self::set_bits(ctrl, idx);
            } else {
                Self::store(ctrl, n, PREV, b);
            }
        }
        // SAFETY: `b` is a free block of `size` bytes, now filed.
        unsafe { poison_free(b, size) };
    }

    /// Removes free block `b` from its list (TL6, TL7).
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block; `b` is a free block in a list.
    #[inline(always)]
    unsafe fn unlink(ctrl: *mut usize, b: *mut u8) {
        // SAFETY: `b` is a free block leaving its list.
        unsafe { unpoison_block(b) };
        // SAFETY: `b` is a free block: its link words are valid; `p` is a free block or a
        // pseudo-node, whose `NEXT` field is a head slot; `n` is null or a free block (TL6).
        unsafe {
            let n = Self::load(ctrl, b, NEXT);
            let p = Self::load(ctrl, b, PREV);
            Self::store(ctrl, p, NEXT, n);
            if !n.is_null() {
                Self::store(ctrl, n, PREV, p);
            } else if let Some(idx) = Self::pseudo_node_index(ctrl, p) {
                // `b` was alone in list `idx`.
                Self::clear_bits(ctrl, idx);
            }
        }
    }

    /// The class of a non-empty list whose first block has at least `units` granules
    /// (`units <= usize::MAX / 2`), or `CLASSES` if there is none. Small sizes have exact
    /// classes, so their search starts at their own class without the rounding of
    /// [`ceil_index`]: a hit is an exact fit.
    #[inline(always)]
    fn find(&mut self, units: usize) -> usize {
        let ctrl = self.ctrl;
        if ctrl.is_null() {
            return Self::CLASSES;
        }
        // Small sizes keep a branch of their own, although random sizes mispredict it. Measured
        // alternatives (x86-64, callgrind, random actions at N = 1,000 live blocks): one path
        // for both ranges (every size through `floor_index` and its own class first) saved
        // 0.25 mispredicted branches per allocation but cost 5.6 instructions (10.5 on the
        // serde_json replay); a branch-free test of the own list's first block saved at most
        // 0.7 instructions for 0.05–0.12 more mispredicts; a branch-free `pop` (bits cleared
        // by a mask) cost 14 instructions for 0.3 mispredicts fewer.
        if units < 2 * SL {
            if Self::SKIP_NEAR {
                return self.find_exact(ctrl, units);
            }
            return self.search(ctrl, units, units, false);
        }
        // Better fit first: the first block of the request's own class, if it is large enough.
        // Its bitmap word, shifted down to the class, says at once whether that list is
        // non-empty and which list above it in the word is the next one, so an empty own
        // list costs no head load and the search needs no rounded-up class (Cortex-M3,
        // opt-level s: 7 instructions fewer when the own list is empty, as in the worst
        // allocation of the benchmark).
        let own = floor_index(units, Self::SL_LOG2);
        if own >= Self::CLASSES {
            return Self::CLASSES;
        }
        // SAFETY: `own / BITS < WORDS`; the control block exists.
        let mut bits =
            Self::down(unsafe { Self::bitmap(ctrl, own / Self::BITS).read() }, own % Self::BITS);
        if bits & Self::bit(0) != 0 {
            // SAFETY: list `own < CLASSES` is non-empty (TL7): its first block is a free
            // block (TL6).
            let b = unsafe { Self::first(ctrl, own) };
            // SAFETY: as above: `b` is a header.
            if (unsafe { word_usize(b, 0) } & !FLAGS) >> Self::G_LOG2 >= units {
                return own;
            }
            // Every class above `own` holds blocks of at least `units` granules.
            bits &= !Self::bit(0);
        }
        if bits != 0 {
            let found = own + Self::lowest(bits);
            if !HARDENED {
                // SAFETY: a set bit of a bitmap word is a class below `CLASSES` (TL7); as in
                // `above`.
                unsafe { core::hint::assert_unchecked(found < Self::CLASSES) };
            }
            return found;
        }
        self.above(ctrl, own / Self::BITS)
    }

    /// [`find`](Self::find) for an exact class (`units < 2·SL`): the request's own class (an
    /// exact fit), else the lowest non-empty class at least a smallest block larger, so that
    /// the rest of the block is filed as a free block. The classes in between (one or two
    /// granules larger) would leave a rest too small to be a block, which would stay in the
    /// allocation until it is freed: on the benchmark's efficiency workload that slack held
    /// 0.27 % of the heap at the first failure, and skipping those classes raised the payload
    /// at the first failure from 95.85 % to 96.07 % (64-bit default). They are taken only when nothing else fits: a request never fails while a
    /// block that fits is free in one of them. The cost is the splits: more blocks are cut
    /// and their rest filed (see [`SKIP_NEAR`](Self::SKIP_NEAR), which enables this).
    ///
    /// `ctrl` is the control block, not null.
    #[inline(always)]
    fn find_exact(&mut self, ctrl: *mut usize, units: usize) -> usize {
        if units >= Self::CLASSES {
            return Self::CLASSES;
        }
        let w = units / Self::BITS;
        // SAFETY: `w < WORDS` since `units < CLASSES`; the control block exists.
        let bits = Self::down(unsafe { Self::bitmap(ctrl, w).read() }, units % Self::BITS);
        if bits & Self::bit(0) != 0 {
            return units;
        }
        // The classes `MIN_UNITS` granules larger and up (tested apart from the own class:
        // one mask of both cost x86-64 about 0.6 instructions per allocation more).
        let far = Self::down(bits, Self::MIN_UNITS);
        if far != 0 {
            return units + Self::MIN_UNITS + Self::lowest(far);
        }
        let found = self.above(ctrl, w);
        if found < Self::CLASSES {
            return found;
        }
        // Nothing else: a class less than a smallest block larger, in word `w` (every word
        // above it is empty).
        let near = bits & !Self::from(usize::MAX, Self::MIN_UNITS);
        if near != 0 {
            return units + Self::lowest(near);
        }
        Self::CLASSES
    }

    /// The lowest non-empty class at or above `idx`, the first class that guarantees `units`
    /// granules: two bitmap lookups (`idx`'s word, then the summary), then, if `fallback`, the
    /// [`fallback`](Self::fallback); `CLASSES` if none fits. `ctrl` is the control block, not
    /// null.
    #[inline(always)]
    fn search(&mut self, ctrl: *mut usize, idx: usize, units: usize, fallback: bool) -> usize {
        if idx < Self::CLASSES {
            let w = idx / Self::BITS;
            // SAFETY: `w < WORDS` since `idx < CLASSES`; the control block exists.
            let bits = Self::from(unsafe { Self::bitmap(ctrl, w).read() }, idx % Self::BITS);
            if bits != 0 {
                return w * Self::BITS + Self::lowest(bits);
            }
            let found = self.above(ctrl, w);
            if found < Self::CLASSES {
                return found;
            }
        }
        if fallback {
            self.fallback(units)
        } else {
            Self::CLASSES
        }
    }

    /// The lowest non-empty class in a bitmap word above word `w` (through the summary), or
    /// `CLASSES`. `ctrl` is the control block, not null, and `w < WORDS`.
    #[inline(always)]
    fn above(&self, ctrl: *mut usize, w: usize) -> usize {
        // SAFETY: the control block exists.
        let s = Self::beyond(unsafe { Self::summary(ctrl).read() }, w);
        if s == 0 {
            return Self::CLASSES;
        }
        let w = Self::lowest(s);
        // SAFETY: summary bits are below `WORDS` (TL7).
        let bits = unsafe { Self::bitmap(ctrl, w).read() };
        let found = w * Self::BITS + Self::lowest(bits);
        if !HARDENED {
            // SAFETY: TL7: summary bit `w` says `bitmap[w] != 0`, and no bitmap bit at or
            // above `CLASSES` is set. Told to the compiler so that the caller's "nothing
            // found" test (`CLASSES`) is not repeated on this path; the hardened heap keeps
            // it, as a damaged bitmap there must not index beyond the list heads.
            unsafe { core::hint::assert_unchecked(found < Self::CLASSES) };
        }
        found
    }

    /// Takes the first block of non-empty list `idx`; null (reported) if `HARDENED` finds
    /// its links damaged.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block, `idx < FL·SL` and list `idx` is non-empty.
    #[inline(always)]
    unsafe fn pop(ctrl: *mut usize, idx: usize) -> *mut u8 {
        // SAFETY: caller: `idx < CLASSES`; the list's first block is a free block whose `NEXT`
        // is null or a free block of the same list (TL6).
        unsafe {
            let head = Self::head(ctrl, idx);
            let b = Self::load(ctrl, head.cast(), 0);
            if HARDENED && !Self::links_sound(ctrl, b) {
                Self::corrupt_link(b.addr());
                return ptr::null_mut();
            }
            unpoison_block(b);
            let n = Self::load(ctrl, b, NEXT);
            Self::store(ctrl, head.cast(), 0, n);
            if n.is_null() {
                Self::clear_bits(ctrl, idx);
            } else {
                Self::store(ctrl, n, PREV, Self::pseudo_node(head));
            }
            b
        }
    }

    /// The failure path of [`find`](Self::find) and of the over-aligned search: no class above
    /// the request has a block, but one of the request's own class may still be large enough
    /// (a class spans sizes up to twice its smallest; a fresh region is a single block of any
    /// size). Looks at the first [`LOOK`](Self::LOOK) blocks of that list, and moves the first
    /// that has `units` granules to the head of its list, where [`take`](Self::take) and
    /// [`carve_end`](Self::carve_end) cut it. Returns its class, else `CLASSES` (also when
    /// `HARDENED` finds a link damaged, reported). No loop: [`next_free`](Self::next_free) is
    /// called twice.
    ///
    /// Runs only when an allocation would otherwise fail (the plain path and `allocate_2g`
    /// call it from their failure branches, out of line). On the benchmark's efficiency
    /// workload it changes nothing: at the first failure, no free block of any list fits the
    /// request in 31 of 32 seeds, and in the last one only a block with a lucky alignment
    /// does (an over-aligned request; measured with a look through every list). It helps heaps
    /// with many blocks of one class (small regions, a heap cut into equal pieces): there a
    /// request no longer fails while the second or third block of its class fits.
    // Inlined into the over-aligned search on 32-bit targets, where it is a few instructions
    // (`LOOK = 1`): as before the look further, Cortex-M3 code and counts are unchanged.
    #[cfg_attr(target_pointer_width = "64", cold, inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(always))]
    fn fallback(&mut self, units: usize) -> usize {
        let idx = floor_index(units, Self::SL_LOG2);
        let ctrl = self.ctrl;
        if idx >= Self::CLASSES || ctrl.is_null() {
            return Self::CLASSES;
        }
        #[cfg(test)]
        {
            self.probe.fallbacks += 1;
        }
        let fits = |b: *mut u8| {
            // SAFETY: `b` is a free block of list `idx` (TL6): a header.
            (unsafe { word_usize(b, 0) } & !FLAGS) >> Self::G_LOG2 >= units
        };
        // SAFETY: `idx < CLASSES`, the control block exists; a list's first block is a free
        // block (TL6).
        let b = unsafe { Self::first(ctrl, idx) };
        if b.is_null() {
            return Self::CLASSES;
        }
        if fits(b) {
            return idx;
        }
        if Self::LOOK == 1 {
            return Self::CLASSES;
        }
        // SAFETY: `b` is a free block of list `idx`.
        let mut c = unsafe { Self::next_free(ctrl, b) };
        if !c.is_null() && !fits(c) {
            // SAFETY: `c` is a free block of list `idx`.
            c = unsafe { Self::next_free(ctrl, c) };
        }
        if c.is_null() || !fits(c) {
            return Self::CLASSES;
        }
        // SAFETY: `c` is a free block of list `idx` (TL6) and not its first (`b` is), so its
        // `prev` is a free block; taken out and filed again at the head of the same list, which
        // stays non-empty: the bitmaps stay right (TL7).
        unsafe {
            if HARDENED && !Self::links_sound(ctrl, c) {
                Self::corrupt_link(c.addr());
                return Self::CLASSES;
            }
            Self::unlink(ctrl, c);
            Self::link_in(ctrl, c, idx, word_usize(c, 0) & !FLAGS);
        }
        idx
    }

    /// An allocation of `size` bytes (alignment `<= G`) that [`find`](Self::find) could not
    /// serve: the [`fallback`](Self::fallback)'s look further down the request's own list.
    /// Out of line and called from `allocate` alone: from `find`, inlined in every
    /// allocation, the call cost x86-64 about 5 instructions per allocation (registers kept
    /// for it); passed the granules rather than the size, 2 on a large allocation.
    #[cold]
    #[inline(never)]
    fn allocate_further(&mut self, size: usize) -> Option<NonNull<u8>> {
        let units = Self::units_for(size);
        let idx = self.fallback(units);
        if idx >= Self::CLASSES {
            return None;
        }
        // SAFETY: the fallback found list `idx` non-empty with a first block of at least
        // `units` granules, so the control block exists.
        let p = unsafe { Self::take(self.ctrl, idx, units << Self::G_LOG2) }?;
        // SAFETY: `p` is the payload of a block just allocated for `size` bytes.
        Some(unsafe { expose(p, size) })
    }

    /// [`allocate_2g`](Self::allocate_2g)'s request of `units` granules when
    /// [`find`](Self::find) could not serve it: the [`fallback`](Self::fallback)'s look
    /// further down the own list, then the same cut. Out of line (a call in `allocate_2g`
    /// cost it about 4 x86-64 instructions per call).
    #[cold]
    #[inline(never)]
    fn allocate_2g_further(&mut self, units: usize) -> Option<NonNull<u8>> {
        // No overflow: `units <= isize::MAX / G + 2`.
        let idx = self.fallback(units + Self::MIN_UNITS + 1);
        if idx >= Self::CLASSES {
            return None;
        }
        // SAFETY: the fallback found list `idx` non-empty, so the control block exists.
        let b = unsafe { Self::first(self.ctrl, idx) };
        if (b.addr() + W) & G != 0 {
            // SAFETY: list `idx` is non-empty with a first block of at least `units +
            // MIN_UNITS + 1` granules; `2·G > G` is a power of two.
            return unsafe { self.carve_end_cold(idx, units, 2 * G) };
        }
        // SAFETY: as above; the first block has at least `units` granules, a multiple of `G`
        // at least `MIN_BLOCK` once shifted.
        unsafe { Self::take(self.ctrl, idx, units << Self::G_LOG2) }
    }

    /// How many blocks of the request's own class [`fallback`](Self::fallback) looks at: 3
    /// on 64-bit targets, 1 (the first) on 32-bit ones, where the look further costs about
    /// 230 bytes of Cortex-M3 code (moving a block to the head of its list is an unlink and
    /// an insertion) for no measured gain in heap efficiency.
    const LOOK: usize = if cfg!(target_pointer_width = "64") { 3 } else { 1 };

    /// The block after free block `b` in its list, or null at the end of the list (and, with
    /// `HARDENED`, when `b`'s links are damaged: reported).
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block and `b` a free block in a list.
    #[inline(always)]
    unsafe fn next_free(ctrl: *mut usize, b: *mut u8) -> *mut u8 {
        // SAFETY: caller contract.
        if HARDENED && !unsafe { Self::links_sound(ctrl, b) } {
            Self::corrupt_link(b.addr());
            return ptr::null_mut();
        }
        // SAFETY: `b` is a free block: its `NEXT` is null or a free block of its list (TL6),
        // checked just above when `HARDENED`.
        unsafe { Self::load(ctrl, b, NEXT) }
    }

    /// Allocates `need` bytes from the front of the first block `b` of non-empty list `idx`
    /// and returns the payload; `None` only if `HARDENED` finds `b`'s links damaged.
    ///
    /// The rest `r` becomes a free block when it has at least `MIN_BLOCK` bytes. When it is
    /// still in class `idx` (a split of a large block, such as a fresh region), `r` simply
    /// takes `b`'s place at the head of the list: no bitmap is touched and no class computed
    /// twice. Otherwise `b` is popped and `r` filed in its own list.
    ///
    /// # Safety
    ///
    /// `ctrl` is the control block, list `idx < FL·SL` is non-empty and its first block has
    /// at least `need` bytes; `need` is a multiple of `G`, at least `MIN_BLOCK`.
    #[inline(always)]
    unsafe fn take(ctrl: *mut usize, idx: usize, need: usize) -> Option<NonNull<u8>> {
        // SAFETY: `idx < CLASSES` (caller).
        let head = unsafe { Self::head(ctrl, idx) };
        // SAFETY: list `idx` is non-empty (caller): its first block is a free block, whose
        // predecessor is used (TL4), so its flags are `FREE` alone (TL2, TL3).
        let b = unsafe { Self::load(ctrl, head.cast(), 0) };
        // SAFETY: as above.
        let bsize = unsafe { word_usize(b, 0) } & !FLAGS;
        let rem = bsize - need;
        if rem < Self::MIN_BLOCK {
            // SAFETY: list `idx` is non-empty and `b` is its first block; once unlinked it
            // becomes used as a whole, and the block after it (TL1) loses `PREV_FREE` and
            // `PREV_MIN` (TL3).
            unsafe {
                if Self::pop(ctrl, idx).is_null() {
                    return None;
                }
                set_word_usize(b, 0, bsize | USED);
                let n = b.add(bsize);
                set_word_usize(n, 0, word_usize(n, 0) & !Self::PREV_BITS);
                return Some(NonNull::new_unchecked(b.add(W)));
            }
        }
        // SAFETY: `need + rem = bsize`: `r` is inside `b`, at a header position (TL1).
        let r = unsafe { b.add(need) };
        let ridx = Self::class_of_bytes(rem);
        if ridx == idx {
            // SAFETY: `b` is the first block of list `idx` (TL6); `r`, a free block of
            // `rem` bytes in the same class, takes its place: same neighbours in the list,
            // same non-empty list, so the bitmaps stay right (TL7).
            unsafe {
                if HARDENED && !Self::links_sound(ctrl, b) {
                    Self::corrupt_link(b.addr());
                    return None;
                }
                unpoison_block(b);
                let n = Self::load(ctrl, b, NEXT);
                Self::store(ctrl, r, NEXT, n);
                Self::store(ctrl, r, PREV, Self::pseudo_node(head));
                Self::store(ctrl, head.cast(), 0, r);
                if !n.is_null() {
                    Self::store(ctrl, n, PREV, r);
                }
                poison_free(r, rem);
                // A class spans less than a factor of two, so `r` is not a smallest block
                // (`b` has twice its size at least): it has a footer (TL5).
                set_footer(r, rem);
            }
        } else {
            // Filing `r` before `b` leaves list `idx` (its bits cleared after) keeps a shared
            // bitmap word from emptying and filling again: on the Cortex-M3 the 19 worst plain
            // allocations went from 113 to 105 instructions, but every other split took one
            // more (mean 70.9 to 71.2, plain max 111), and the alloc max (120, over-aligned)
            // stayed; loading `b`'s `next` first or clearing `idx`'s bits last: mean 75.2 / 73.1.
            // SAFETY: as above; `r` goes to the list of its class `ridx` (TL6), with its end
            // mark (TL3, TL5): the block after it already has `PREV_FREE`, since `b` was free,
            // and not `PREV_MIN`, since `b` was larger than a smallest block.
            unsafe {
                if Self::pop(ctrl, idx).is_null() {
                    return None;
                }
                Self::link_in(ctrl, r, ridx, rem);
                Self::set_end(r, rem);
            }
        }
        // SAFETY: `b` keeps `need` bytes, used after a used block (TL3, TL4); `r` is a free
        // block of `rem` bytes (TL2).
        unsafe {
            set_word_usize(b, 0, need | USED);
            set_word_usize(r, 0, rem | FREE);
            Some(NonNull::new_unchecked(b.add(W)))
        }
    }

    /// Allocation with `align > G`. One search, for a block with room for the request, the
    /// largest slack an alignment can need and a smallest free block in front: `need + align −
    /// G + MIN_BLOCK` bytes. The allocation is placed at the *end* of that block, at the highest
    /// `align`-aligned payload that leaves `need` bytes, and the front (at least `MIN_BLOCK`) is
    /// filed as a free block; the slack after the payload (less than `align`) becomes a second
    /// free block when it has at least [`KEEP_SLACK`](Self::KEEP_SLACK) bytes. Keeping every
    /// slack in the block saved that insertion but cost 3–4 points of heap efficiency (up to
    /// 4 KiB held per block); keeping only small ones costs nearly nothing. The worst case is
    /// one search, one removal and two insertions, the second through
    /// [`free_ptr`](Self::free_ptr) on 32-bit targets.
    ///
    /// The search is a second copy of the plain path's, inlined: an out-of-line one shared
    /// with the plain path saved about 60 bytes and cost every over-aligned allocation about
    /// 16 instructions (Cortex-M3).
    #[cold]
    #[inline(never)]
    fn allocate_aligned(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let align = layout.align();
        let need = Self::units_for(layout.size());
        // `(align − 1) >> log2 G` is `(align − G) / G` for `align > G`. No overflow: each term
        // is below `2^(BITS−1) / G` granules.
        let ctrl = self.ctrl;
        if ctrl.is_null() {
            return None;
        }
        let units = need + Self::MIN_UNITS + ((align - 1) >> Self::G_LOG2);
        let idx = self.search(ctrl, ceil_index(units, Self::SL_LOG2), units, true);
        if idx >= Self::CLASSES {
            return None;
        }
        if Self::TINY {
            // With an 8-byte granule on 64-bit targets, `align = 2·G` (16, for `u128`) is
            // common, and half the blocks found are aligned already: such a block is cut like
            // a plain allocation, from its front, with no front block to file.
            // SAFETY: `search` found list `idx < CLASSES` non-empty (TL7).
            let b = unsafe { Self::first(ctrl, idx) };
            if (b.addr() + W) & (align - 1) == 0 {
                // SAFETY: list `idx` is non-empty and its first block has at least `units >
                // need` granules; `need` granules is a multiple of `G`, at least `MIN_BLOCK`.
                return unsafe { Self::take(ctrl, idx, need << Self::G_LOG2) };
            }
        }
        // SAFETY: `search` found list `idx` non-empty, its first block with at least `units`
        // granules (TL7).
        unsafe { self.carve_end(idx, need, align) }
    }

    /// Allocation of `size` bytes with `align = 2·G` in a [`TINY`](Self::TINY) configuration:
    /// 16-byte alignment with the 64-bit default's 8-byte granule, common (`u128`,
    /// `max_align_t`: 7 % of the host benchmark's requests). First the first block of the
    /// request's exact class, if it is aligned (an exact fit). Else: a `G`-aligned payload is
    /// either `2·G`-aligned or one granule off, so a block with room for a smallest block in
    /// front and one granule of slack serves the request either way: when its payload is
    /// aligned, the block is cut from the front like a plain allocation, by
    /// [`take`](Self::take); else the request goes at its end ([`carve_end`](Self::carve_end))
    /// and the front is filed. A plain allocation's search and cut inlined, out of the plain
    /// path: about 83 x86-64 instructions per request on the host benchmark, where the general
    /// [`allocate_aligned`](Self::allocate_aligned) cost about 106.
    #[inline(never)]
    fn allocate_2g(&mut self, size: usize) -> Option<NonNull<u8>> {
        let units = Self::units_for(size);
        let ctrl = self.ctrl;
        if units < 2 * SL && units < Self::CLASSES && !ctrl.is_null() {
            // An exact class (`mapping`): its first block fits exactly, if it is aligned.
            // SAFETY: `units < CLASSES`; the control block exists.
            let b = unsafe { Self::first(ctrl, units) };
            if !b.is_null() && (b.addr() + W) & G == 0 {
                // SAFETY: list `units` is non-empty; its blocks have exactly `units` granules.
                return unsafe { Self::take(ctrl, units, units << Self::G_LOG2) };
            }
        }
        // No overflow: `units <= isize::MAX / G + 2`.
        let idx = self.find(units + Self::MIN_UNITS + 1);
        if idx >= Self::CLASSES {
            if Self::LOOK == 1 {
                return None;
            }
            return self.allocate_2g_further(units);
        }
        // SAFETY: `find` found list `idx` non-empty, so the control block exists.
        let b = unsafe { Self::first(ctrl, idx) };
        if (b.addr() + W) & G != 0 {
            // SAFETY: list `idx` is non-empty with a first block of at least `units +
            // MIN_UNITS + (2·G − 1) / G` granules; `2·G > G` is a power of two.
            return unsafe { self.carve_end_cold(idx, units, 2 * G) };
        }
        // SAFETY: as above; the first block has at least `units` granules, a multiple of `G`
        // at least `MIN_BLOCK` once shifted.
        unsafe { Self::take(ctrl, idx, units << Self::G_LOG2) }
    }

    /// [`carve_end`](Self::carve_end) out of line, for [`allocate_2g`](Self::allocate_2g).
    ///
    /// # Safety
    ///
    /// As for [`carve_end`](Self::carve_end).
    #[cold]
    #[inline(never)]
    unsafe fn carve_end_cold(
        &mut self,
        idx: usize,
        need: usize,
        align: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: caller contract.
        unsafe { self.carve_end(idx, need, align) }
    }

    /// Takes the first block `b` of list `idx` and places an allocation of `need` granules at
    /// its end, at the highest `align`-aligned payload; the front is filed as a free block and
    /// a slack of [`KEEP_SLACK`](Self::KEEP_SLACK) bytes or more after the payload as a second
    /// one. `None` only if `HARDENED` finds `b`'s links damaged.
    ///
    /// # Safety
    ///
    /// A region has been claimed; list `idx < FL·SL` is non-empty and its first block has at
    /// least `need + MIN_UNITS + (align − 1) / G` granules; `align > G` is a power of two and
    /// `need >= MIN_UNITS`.
    // The worst allocation of the Cortex-M3 benchmark (116 instructions, 3 calls) is here: `b`
    // alone in its bitmap word, popped (summary bit cleared), the front filed in the same word
    // (set again). Measured and rejected: leaving `b` filed when the front keeps its class
    // (no list work: 2 of the 3 took 89, but the front's class kept live made every other
    // over-aligned allocation 11 instructions dearer, 101 to 112; alloc mean 68.5 to 69.0).
    // Measured and not taken: a second copy of the carve for a block whose bitmap word the pop
    // empties, which leaves the word's summary bit set until the front is filed (only the
    // bitmap bit when the front lands in the same word). Cortex-M3 alloc max 116 to 110, mean
    // unchanged, for 252 bytes more code (1,980 to 2,232; the small-object firmware too):
    // 13 % more flash for a worst case 6 instructions lower on over-aligned requests only.
    // Also measured: that test only when `b` is alone in its list, with the front filed before
    // `b`'s bits are cleared (one copy: 116 to 113, but the others 5 instructions dearer).
    #[inline(always)]
    unsafe fn carve_end(&mut self, idx: usize, need: usize, align: usize) -> Option<NonNull<u8>> {
        let ctrl = self.ctrl;
        // SAFETY: caller contract: list `idx` is non-empty (TL7).
        let b = unsafe { Self::pop(ctrl, idx) };
        if b.is_null() {
            return None;
        }
        let need = need << Self::G_LOG2;
        // SAFETY: `b` is a block header (TL1).
        let bsize = unsafe { word_usize(b, 0) } & !FLAGS;
        let end = b.addr() + bsize;
        // `end + W − need` is a `G`-aligned payload address inside `b` (TL1); rounding it down
        // to `align` moves it back by at most `align − G`, so at least `MIN_BLOCK` bytes of
        // `b` stay in front.
        let x = end + W - need;
        let q = x & !(align - 1);
        let a = b.with_addr(q - W);
        let front = a.addr() - b.addr();
        // The alignment slack behind the payload (< `align`) is filed as a free block of its
        // own when it is large: left in the block, up to 4 KiB per block stayed allocated,
        // which cost 3–4 points of heap efficiency on the benchmark's mix.
        let slack = x - q;
        // SAFETY: `b` is a free block just unlinked whose predecessor is used (TL4) and whose
        // successor at `end` is used (TL5: free blocks never touch); `[b, a)`, `[a, a +
        // need)` and the slack are parts of it at header positions, each a multiple of `G`
        // (TL1), the front and a filed slack at least `MIN_BLOCK <= KEEP_SLACK`. The front becomes a free
        // block after a used one (TL3–TL5) and is filed (TL6); the middle a used block after
        // a free one; the slack, when filed, a free block between two used ones (no merge to
        // do), and the block at `end` records whether a free block now precedes it (TL3).
        unsafe {
            set_word_usize(b, 0, front | FREE);
            let n = b.add(bsize);
            if slack >= Self::KEEP_SLACK {
                set_word_usize(a, 0, need | USED | PREV_FREE);
                let r = a.add(need);
                if cfg!(target_pointer_width = "64") {
                    set_word_usize(r, 0, slack | FREE);
                    set_footer(r, slack);
                    Self::link(ctrl, r, slack);
                } else {
                    // Released like a freed block, which files it (its neighbours are used):
                    // on 32-bit targets a call instead of a second inlined insertion, about 90
                    // bytes less Cortex-M3 code for about 30 instructions more on a large
                    // alignment (x86-64 keeps the copy: 0.5 instructions per allocation on
                    // the host benchmark's mix).
                    set_word_usize(r, 0, slack | USED);
                    self.free_ptr(NonNull::new_unchecked(r.add(W)));
                }
            } else {
                set_word_usize(a, 0, (end - a.addr()) | USED | PREV_FREE);
                set_word_usize(n, 0, word_usize(n, 0) & !Self::PREV_BITS);
            }
            // After `a`'s header: a front of a smallest block marks it with `PREV_MIN`.
            Self::set_end(b, front);
            Self::link(ctrl, b, front);
            Some(NonNull::new_unchecked(a.add(W)))
        }
    }

    /// Cuts used block `b` (header `hv`) down to `need` bytes: the tail joins a free successor,
    /// or becomes a free block when it has at least `MIN_BLOCK` bytes, or stays in `b`.
    ///
    /// # Safety
    ///
    /// `b` is a used block with header `hv`; `need` is a multiple of `G` and at least
    /// `MIN_BLOCK`.
    #[inline(never)]
    unsafe fn shrink_block(&mut self, b: *mut u8, hv: usize, need: usize) {
        let bsize = hv & !FLAGS;
        if need >= bsize {
            return;
        }
        let rem = bsize - need;
        // SAFETY: a block is followed by a block or the sentinel (TL1); `n` is a header.
        let nv = unsafe { word_usize(b.add(bsize), 0) };
        if rem < Self::MIN_BLOCK && nv & FREE == 0 {
            // Too small to stand alone and nothing to join: the tail stays in `b`.
            return;
        }
        if cfg!(target_pointer_width = "64") && !HARDENED {
            // The tail's neighbours are known (`b`, used, and `n`), so it is released directly
            // rather than through `free_ptr`'s checks (host benchmark, random actions,
            // N = 1,000: 200.4 → 197.0 x86-64 instructions and 2.82 → 2.69 mispredicted
            // branches per realloc, callgrind). 32-bit targets keep the one shared copy of the
            // free path (code size); the hardened heap keeps its checked release.
            // SAFETY: `need` is a multiple of `G`, at least `MIN_BLOCK`: `b` stays a used block
            // and the tail `[b + need, b + bsize)` becomes a used block after a used one (TL1,
            // TL3), released at once: it joins a free successor, or has at least `MIN_BLOCK`
            // bytes.
            unsafe {
                set_word_usize(b, 0, need | (hv & FLAGS));
                let r = b.add(need);
                Self::release(self.ctrl, r, rem | USED);
            }
            return;
        }
        // SAFETY: `need` is a multiple of `G`, at least `MIN_BLOCK`: `b` stays a block, and the
        // tail `[b + need, b + bsize)` becomes a used block after a used one (TL1, TL3),
        // released at once: it joins a free successor, or has at least `MIN_BLOCK` bytes. Its
        // payload is in the heap's range (TL8) and its header says used, so `free_ptr`'s checks
        // pass.
        unsafe {
            set_word_usize(b, 0, need | (hv & FLAGS));
            let r = b.add(need);
            sanitize::unpoison(r, rem);
            set_word_usize(r, 0, rem | USED);
            self.free_ptr(NonNull::new_unchecked(r.add(W)));
        }
    }

    /// Frees used block `b` whose header is `hv`, merging it with free neighbours, and files
    /// the result. Inlined into [`free_inline`](Self::free_inline), and on 64-bit targets into
    /// a moving [`grow`](Heap::grow), which frees the old block after the checks it already did,
    /// and into [`shrink_block`](Self::shrink_block), which frees a tail it cut itself.
    ///
    /// # Safety
    ///
    /// A region has been claimed; `b` is a used block and `hv` its header.
    #[inline(always)]
    unsafe fn release(ctrl: *mut usize, b: *mut u8, hv: usize) {
        // SAFETY: caller contract.
        if HARDENED && !unsafe { Self::neighbours_sound(ctrl, b, hv) } {
            // Merging would follow a damaged link: the block stays used (leaked), and nothing
            // is written.
            return Self::corrupt_link(b.addr());
        }
        let mut b = b;
        let mut size = hv & !FLAGS;
        // SAFETY: `b` is a block of `size` bytes (TL1); its slack may be poisoned.
        unsafe { sanitize::unpoison(b, size) };
        // The previous block first: then only `b` and `size` stay live, which spares
        // registers (and their saves) on 32-bit targets.
        //
        // The worst free (Cortex-M3: 103 instructions, `cargo xtask m3-calls bareheap_tlsf`)
        // merges both neighbours, each alone in its bitmap word (two summary bits cleared),
        // and files the result in an empty word (one set). Measured and rejected (Cortex-M3,
        // free mean / max, from 59.6 / 103): clearing the emptied lists' bits only after the
        // merged block is filed, so that a word shared with it never empties (two deferred
        // classes kept live: 69.8 / 113; through a two-element array, 87.5 / 126); leaving
        // the previous block filed when the merged block keeps its class (no list work, but
        // only 15 of 1,473 frees, and the class of both sizes on every merge: 67.5 / 115).
        if hv & PREV_FREE != 0 {
            // SAFETY: the previous block is free (TL3).
            let p = unsafe { Self::prev_free(b, hv) };
            // SAFETY: `p` is a free block's header.
            size += unsafe { word_usize(p, 0) } & !FLAGS;
            b = p;
            // SAFETY: `p` is a free block in its list (TL6).
            unsafe { Self::unlink(ctrl, p) };
        }
        // SAFETY: a block is followed by a block or the sentinel (TL1); `b + size` is the end
        // of the freed block.
        let n = unsafe { b.add(size) };
        // SAFETY: `n` is a header.
        let nv = unsafe { word_usize(n, 0) };
        // `n` follows the used block being freed, so its `PREV_MIN` is clear and the `FREE`
        // bit is its own (TL3). On 32-bit targets without `PREV_MIN`, `b` becomes free (TL3)
        // before the test, also when `n` is free and merged (its header is then a dead word
        // inside the merged block): a used `n`, the common case, then needs no branch around
        // the store (Cortex-M3: free mean 1 instruction fewer; x86-64: 1.4 more, hence 32-bit).
        let early = !Self::TINY && usize::BITS == 32;
        if early {
            // SAFETY: `n` is a header (TL1).
            unsafe { set_word_usize(n, 0, nv | PREV_FREE) };
        }
        if nv & FREE != 0 {
            // The block after `n` already has `PREV_FREE` (TL3); it loses `PREV_MIN` if `n`
            // was a smallest block, as the merged block is larger.
            size += nv & !FLAGS;
            // SAFETY: `n` is a free block in its list (TL6).
            unsafe { Self::unlink(ctrl, n) };
            if Self::TINY && nv == Self::MIN_BLOCK | FREE {
                // SAFETY: `n` was a smallest block, followed by a header (TL1).
                unsafe {
                    let a = n.add(Self::MIN_BLOCK);
                    set_word_usize(a, 0, word_usize(a, 0) & !PREV_MIN);
                }
            }
        } else if !early {
            // `b` becomes free (TL3); if it is a smallest block (no merge: a merge makes a
            // larger one), it has no footer, and `n` says so with `PREV_MIN`.
            if Self::TINY && size == Self::MIN_BLOCK {
                // SAFETY: `n` is a header (TL1).
                unsafe { set_word_usize(n, 0, nv | PREV_FREE | PREV_MIN) };
            } else {
                // SAFETY: `n` is a header (TL1).
                unsafe { set_word_usize(n, 0, nv | PREV_FREE) };
            }
        }
        // The merged block's predecessor is used (TL4), so `PREV_FREE` is clear.
        // SAFETY: `b` is a header of a block of `size` bytes (merged neighbours are adjacent).
        unsafe { set_word_usize(b, 0, size | FREE) };
        // SAFETY: as above (TL5). In a smallest block, this last word is the `PREV` link, which
        // `link` writes next: one store spent instead of a test on every free.
        unsafe { set_footer(b, size) };
        let idx = mapping::floor_index_bytes_freed(size, Self::SL_LOG2, Self::G_LOG2);
        // SAFETY: the merged block is free and in no list; a merge stays inside one region, so
        // `size <= MAX_BLOCK` (TL1) and `idx` is its class.
        unsafe { Self::link_in(ctrl, b, idx, size) };
    }

    /// [`free_inline`](Self::free_inline) out of line: the one copy of the free path that
    /// `claim`, `shrink` and, on 32-bit targets, `deallocate` call. Its checks cost the
    /// internal callers a few instructions; one copy of the merge code instead of two saves
    /// about 280 bytes of Cortex-M3 code, and `deallocate` makes one call instead of two
    /// (checks inline, then a call to the merge code: 3 Cortex-M3 instructions more per free).
    ///
    /// # Safety
    ///
    /// As for [`deallocate`](Heap::deallocate).
    #[inline(never)]
    unsafe fn free_ptr(&mut self, ptr: NonNull<u8>) {
        // SAFETY: caller contract.
        unsafe { self.free_inline(ptr) }
    }

    /// [`deallocate`](Heap::deallocate)'s body: refuses a pointer that is not a used block's
    /// payload, else [`release`](Self::release)s the block. Inlined into `deallocate` on
    /// 64-bit targets, where a few hundred bytes of code buy the call and its register moves
    /// on every free (x86-64: about 5 instructions of about 55); 32-bit targets,
    /// microcontrollers, call the one shared copy, [`free_ptr`](Self::free_ptr).
    ///
    /// # Safety
    ///
    /// As for [`deallocate`](Heap::deallocate).
    #[inline(always)]
    unsafe fn free_inline(&mut self, ptr: NonNull<u8>) {
        let ctrl = self.ctrl;
        if ctrl.is_null() {
            return self.refuse(ptr);
        }
        // SAFETY: the control block exists.
        let (lo, bound) = unsafe { (ctrl.add(Self::C_LO).read(), ctrl.add(Self::C_SLOTS).read()) };
        let off = ptr.as_ptr().addr().wrapping_sub(lo);
        if Self::outside(off, bound) {
            self.refuse(ptr);
            // Emits no code, but keeps the call out of tail position: LLVM makes a conditional
            // tail call a predicated branch (Cortex-M3: `it hs; bhs.w`), one instruction more
            // on every free.
            core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
            return;
        }
        let b = ptr.as_ptr().wrapping_sub(W);
        if sanitize::is_poisoned(b) {
            // Free space or slack (only with `--cfg bareheap_asan`): not a header.
            return self.refuse(ptr);
        }
        // SAFETY: `b` is a header (caller contract; TL1).
        let hv = unsafe { word_usize(b, 0) };
        if hv & USED == 0 {
            return self.refuse(ptr);
        }
        // SAFETY: `b` is a used block and `hv` its header; a region exists since `slots > 0`.
        unsafe { Self::release(ctrl, b, hv) }
    }

    /// `deallocate` refused `ptr`: works out why, then reports it to the [fault
    /// handler](crate::fault) and the free is ignored. The one cold copy for every refusal:
    /// the reason is found again here (outside the range, else misaligned, else not a used
    /// header), rather than passed in from each of the four call sites (Cortex-M3: 12 bytes
    /// less code than a range refusal that called a second hook).
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, ptr: NonNull<u8>) {
        let (lo, slots) = self.range();
        let off = ptr.as_ptr().addr().wrapping_sub(lo);
        let reason = if off / G >= slots {
            InvalidFree::Outside
        } else if off % G != 0 {
            InvalidFree::Misaligned
        } else {
            InvalidFree::NotUsed
        };
        #[cfg(test)]
        self.probe.invalid_free(ptr.as_ptr().addr(), reason);
        use crate::fault::{report, FaultKind, HeapKind};
        let kind = match reason {
            InvalidFree::Outside => FaultKind::Outside,
            InvalidFree::Misaligned => FaultKind::Misaligned,
            InvalidFree::NotUsed => FaultKind::NotAllocated,
        };
        report(HeapKind::Tlsf, kind, ptr.as_ptr().addr());
    }

    // ---- regions ------------------------------------------------------------------------

    /// One past the highest payload slot: `lo + slots·G` (no overflow: it is at most a
    /// sentinel address rounded up to `G`, and sentinels are followed by their trailer).
    fn hi(&self) -> usize {
        let (lo, slots) = self.range();
        lo + slots * G
    }

    /// `(lo, slots)`: every payload is `lo + k·G` with `k < slots`; `(0, 0)` before a claim.
    fn range(&self) -> (usize, usize) {
        if self.ctrl.is_null() {
            return (0, 0);
        }
        // SAFETY: the control block exists.
        let (lo, bound) =
            unsafe { (self.ctrl.add(Self::C_LO).read(), self.ctrl.add(Self::C_SLOTS).read()) };
        (lo, bound >> Self::SLOTS_SHIFT)
    }

    /// Widens `lo`/`slots` to cover payloads in `[lo, hi)`. Inlined into `claim`, its only
    /// caller: with the region's bounds known there, 32 bytes less Cortex-M3 code than a call.
    #[inline(always)]
    fn cover(&mut self, lo: usize, hi: usize) {
        let (old_lo, slots) = self.range();
        let (new_lo, new_hi) =
            if slots == 0 { (lo, hi) } else { (old_lo.min(lo), self.hi().max(hi)) };
        // SAFETY: called after the control block is written.
        unsafe {
            self.ctrl.add(Self::C_LO).write(new_lo);
            self.ctrl.add(Self::C_SLOTS).write((new_hi - new_lo).div_ceil(G) << Self::SLOTS_SHIFT);
        }
    }
}

impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool> Claim
    for TlsfWith<FL, SL, G, HARDENED>
{
    /// Adds `region` to the heap. The first region also receives the control block
    /// ([`CONTROL_BLOCK_SIZE`](TlsfWith::CONTROL_BLOCK_SIZE) bytes).
    ///
    /// A region that begins exactly where a claimed one ends, or ends exactly where one begins
    /// (other than the first, which starts with the control block), is merged with it when
    /// both [may merge](Region::may_merge) (R3: regions from [`Region::new`], not from
    /// `'static` buffers) and the merged region stays within the largest block.
    ///
    /// Bytes beyond [`MAX_ALLOCATION`](TlsfWith::MAX_ALLOCATION) plus the region overhead are
    /// not used: claim a larger area as several regions, or choose a larger `FL`.
    ///
    /// Returns the size of the free block the region adds, less one header word: the largest
    /// allocation the new memory alone can serve.
    ///
    /// # Errors
    ///
    /// [`RegionError::Overlap`] if it overlaps a claimed region, [`RegionError::TooSmall`]
    /// (with [`min_first_region_size`](TlsfWith::min_first_region_size) or
    /// [`min_region_size`](TlsfWith::min_region_size)) if too little remains after alignment.
    /// Nothing is written then.
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        let base = region.base().as_ptr();
        let (start, end) = (base.addr(), region.end_addr());
        let ctrl = self.ctrl;
        let min =
            if ctrl.is_null() { Self::min_first_region_size() } else { Self::min_region_size() };
        let too_small = RegionError::TooSmall { min };
        // The sentinel: the last header position that leaves room for the trailer.
        let s = (end.checked_sub(TRAILER - W).ok_or(too_small)? & !(G - 1))
            .checked_sub(W)
            .ok_or(too_small)?;

        // Overlap with a claimed region, and the regions this one touches.
        let mut append: Option<(*mut *mut u8, *mut u8)> = None;
        let mut prepend: Option<*mut u8> = None;
        let merge = region.may_merge();
        if !ctrl.is_null() {
            // SAFETY: the control block exists; its region list links trailers (TL8).
            let mut link: *mut *mut u8 = unsafe { ctrl.add(Self::C_REGIONS).cast() };
            loop {
                // SAFETY: `link` is the list head or a trailer's next field.
                let t = unsafe { link.read() };
                if t.is_null() {
                    break;
                }
                let link_to_t = link;
                // SAFETY: `t` is a trailer.
                let (t_base, t_end) = unsafe { (word_usize(t, T_BASE), word_usize(t, T_END)) };
                if start < t_end && t_base < end {
                    return Err(RegionError::Overlap);
                }
                // SAFETY: `t` is a trailer; its next field is a link.
                link = unsafe { t.add(T_NEXT).cast() };
                // At most one region ends at `start` and one begins at `end` (TL8). Whether
                // they may merge is asked here, in the walk: as filters after it, 60 bytes
                // more Cortex-M3 code.
                // SAFETY: `t` is a sentinel (TL8).
                if merge && unsafe { word_usize(t, 0) } & NO_MERGE == 0 {
                    if t_end == start {
                        append = Some((link_to_t, t));
                    }
                    // Never in front of the first region, whose control block comes before
                    // its first block: the last of the list (TL8), with no next region.
                    // SAFETY: `link` is `t`'s next field.
                    if t_base == end && !unsafe { link.read() }.is_null() {
                        prepend = Some(t);
                    }
                }
            }
        }

        // The new memory becomes one used block `[b, b + size)` with `PREV_FREE` bit `pf`,
        // which `give` then frees: it merges with a free neighbour like any freed block.
        let first =
            start.checked_add(W).ok_or(too_small)?.checked_next_multiple_of(G).ok_or(too_small)?
                - W;
        let (b, size, pf) = 'new: {
            if let Some((link, t)) = append {
                // SAFETY: `t` is a trailer.
                let t_first = unsafe { word(t, T_FIRST) };
                if s.checked_sub(t.addr()).is_some_and(|d| d >= Self::MIN_BLOCK)
                    && s - t_first.addr() <= Self::MAX_BLOCK
                {
                    let sp = t.with_addr(s);
                    // SAFETY: `[t, s + TRAILER)` is the old trailer followed by the new
                    // region, all ours: the trailer moves to the new sentinel `sp` (header
                    // positions, TL1), and the old sentinel becomes the block's header,
                    // keeping its `PREV_FREE` and `PREV_MIN` (TL3).
                    let sv = unsafe {
                        sanitize::unpoison(sp, TRAILER);
                        set_word(sp, T_NEXT, word(t, T_NEXT));
                        set_word(sp, T_FIRST, t_first);
                        set_word(sp, T_BASE, word(t, T_BASE));
                        set_word_usize(sp, T_END, end);
                        set_word_usize(sp, 0, 0);
                        link.write(sp);
                        word_usize(t, 0)
                    };
                    break 'new (t, s - t.addr(), sv & Self::PREV_BITS);
                }
            }
            if let Some(t) = prepend {
                // SAFETY: `t` is a trailer.
                let t_first = unsafe { word(t, T_FIRST) };
                if t_first.addr().checked_sub(first).is_some_and(|d| d >= Self::MIN_BLOCK)
                    && t.addr() - first <= Self::MAX_BLOCK
                {
                    let b = base.with_addr(first);
                    // SAFETY: `[first, t_first)` is ours and precedes the region's first
                    // block, whose `PREV_FREE` is clear (TL3); the region now starts here.
                    unsafe {
                        set_word(t, T_FIRST, b);
                        set_word_usize(t, T_BASE, start);
                    }
                    break 'new (b, t_first.addr() - first, 0);
                }
            }
            // A region of its own, after the control block if it is the first.
            let ctrl_at = start.checked_next_multiple_of(G).ok_or(too_small)?;
            let first = if ctrl.is_null() {
                ctrl_at
                    .checked_add(Self::CONTROL_BLOCK_SIZE + W)
                    .and_then(|e| e.checked_next_multiple_of(G))
                    .ok_or(too_small)?
                    - W
            } else {
                first
            };
            if s < first || s - first < Self::MIN_BLOCK {
                return Err(too_small);
            }
            let span = (s - first).min(Self::MAX_BLOCK);
            let b = base.with_addr(first);
            let sp = base.with_addr(first + span);
            // SAFETY: `[ctrl_at, sp + TRAILER) ⊂ [start, end)` by the computation of `first`
            // and `s`: the control block (first region: `ctrl_at + CONTROL_BLOCK_SIZE <=
            // first`, `G`-aligned), the block and the trailer are ours; `b` and `sp` are
            // header positions (TL1).
            unsafe {
                // Stale poison (memory used by an earlier heap) on what is written here; the
                // block itself is unpoisoned by `release`.
                sanitize::unpoison(sp, TRAILER);
                if ctrl.is_null() {
                    sanitize::unpoison(base.with_addr(ctrl_at), Self::CONTROL_BLOCK_SIZE);
                    let c: *mut usize = base.with_addr(ctrl_at).cast();
                    // Volatile, so that this stays a small loop instead of a call to `memset`,
                    // which a firmware may not link otherwise; it runs once.
                    for i in 0..Self::CTRL_WORDS {
                        c.add(i).write_volatile(0);
                    }
                    if HARDENED {
                        // TL9: the key mixes where the control block and this heap value
                        // live; `rekey` adds a seed. Every list starts as an encoded null.
                        let key = crate::first_fit::mix(c.addr() ^ (&raw const *self).addr());
                        c.add(Self::C_KEY).write(key);
                        for i in 0..Self::CLASSES {
                            c.add(Self::C_HEADS + i)
                                .cast::<*mut u8>()
                                .write(ptr::without_provenance_mut(key));
                        }
                    }
                    self.ctrl = c;
                }
                set_word_usize(sp, 0, if region.may_merge() { 0 } else { NO_MERGE });
                let list = self.ctrl.add(Self::C_REGIONS).cast::<*mut u8>();
                set_word(sp, T_NEXT, list.read());
                set_word(sp, T_FIRST, b);
                set_word_usize(sp, T_BASE, start);
                set_word_usize(sp, T_END, end);
                list.write(sp);
                let count = self.ctrl.add(Self::C_REGION_COUNT);
                count.write(count.read() + 1);
            }
            (b, span, 0)
        };
        // The new block is handed over by releasing it as if it were freed: it merges with a
        // free neighbour and sets the flags around it like any freed block.
        // SAFETY: `b` is a header position of a region (TL1) starting `size` bytes of ours,
        // followed by a block or sentinel whose `PREV_FREE` is clear, after a block whose state
        // `pf` gives: a used block; the control block exists. `cover` makes its payloads
        // acceptable to `free_ptr`'s checks (and unpoisoning the block its header).
        unsafe {
            let hv = size | USED | pf;
            sanitize::unpoison(b, size);
            set_word_usize(b, 0, hv);
            self.cover(b.addr() + W, b.addr() + size);
            self.free_ptr(NonNull::new_unchecked(b.add(W)));
        }
        Ok(size - W)
    }
}

// SAFETY: blocks are carved from claimed regions, which the heap owns (R2). `allocate` returns
// payloads of blocks it marked used; a used block is never in a list (TL2, TL6), and blocks tile
// their region without overlap (TL1), so live blocks are disjoint. Payloads are `G`-aligned
// (TL1) or cut at an `align` boundary. No method panics: arithmetic is bounded by `isize::MAX`
// sizes or checked.
unsafe impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool> Heap
    for TlsfWith<FL, SL, G, HARDENED>
{
    // Out of line on 32-bit targets (microcontrollers): one copy of its ~500 bytes for every
    // caller (`grow`, `Slab`'s refills and large requests, `GlobalAlloc`), and the caller's
    // registers are its own (Cortex-M3, opt-level s, small-object benchmark called through
    // `Heap`: 65.7 instructions per allocation, max 109, against 69.1 / 115 inlined, and
    // 68 bytes less code; `Slab<Tlsf>`'s fast path pays 1 instruction for it, 48.4 / 47.4).
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if layout.align() > G {
            let p = if Self::TINY && layout.align() == 2 * G {
                self.allocate_2g(layout.size())
            } else {
                self.allocate_aligned(layout)
            }?;
            // SAFETY: `p` is the payload of a block just allocated for `layout`.
            return Some(unsafe { expose(p, layout.size()) });
        }
        let units = Self::units_for(layout.size());
        let idx = self.find(units);
        if idx >= Self::CLASSES {
            if Self::LOOK == 1 {
                return None;
            }
            return self.allocate_further(layout.size());
        }
        // SAFETY: `find` found list `idx` non-empty with a first block of at least `units`
        // granules, so the control block exists.
        let p = unsafe { Self::take(self.ctrl, idx, units << Self::G_LOG2) }?;
        // SAFETY: `p` is the payload of a block just allocated for `layout`.
        Some(unsafe { expose(p, layout.size()) })
    }

    /// Frees the block at `ptr`. The size comes from the block's header, never from `layout`.
    ///
    /// A pointer outside every region, not aligned like a payload, or whose header is not
    /// marked used (a double free) is ignored, and nothing is written.
    #[inline]
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, _layout: Layout) {
        // SAFETY: caller contract.
        unsafe {
            if cfg!(target_pointer_width = "64") {
                self.free_inline(ptr)
            } else {
                self.free_ptr(ptr)
            }
        }
    }

    /// Grows in place when the block already has room or its successor is free and large
    /// enough; otherwise moves, copying `min(old.size(), block capacity)` bytes.
    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let need = Self::units_checked(new_size)? << Self::G_LOG2;
        let b = ptr.as_ptr().wrapping_sub(W);
        // SAFETY: caller contract: `ptr` is a payload of ours, so `b` is a used block (TL1).
        let hv = unsafe { word_usize(b, 0) };
        let bsize = hv & !FLAGS;
        if need <= bsize {
            // SAFETY: `ptr` is the payload of a used block with room for `new_size` bytes.
            return Some(unsafe { expose(ptr, new_size) });
        }
        // SAFETY: a block is followed by a block or the sentinel (TL1).
        let n = unsafe { b.add(bsize) };
        // SAFETY: `n` is a header.
        let nv = unsafe { word_usize(n, 0) };
        let total = bsize + (nv & !FLAGS);
        if nv & FREE != 0 && total >= need {
            // SAFETY: `n` is a free block (its header says so).
            if HARDENED && !unsafe { Self::links_sound(self.ctrl, n) } {
                Self::corrupt_link(n.addr());
                return None;
            }
            let hv = total | (hv & FLAGS);
            // SAFETY: `n` is a free block in its list (TL6); `b` absorbs it, so the block after
            // `n` (used, TL4) now follows a used block (TL3: no `PREV_FREE`, no `PREV_MIN`);
            // then the tail is cut off again.
            unsafe {
                Self::unlink(self.ctrl, n);
                set_word_usize(b, 0, hv);
                let after = b.add(total);
                set_word_usize(after, 0, word_usize(after, 0) & !Self::PREV_BITS);
                self.shrink_block(b, hv, need);
                // `ptr`'s block now has room for `new_size` bytes.
                return Some(expose(ptr, new_size));
            }
        }
        // On 64-bit targets, an alignment up to `G` needs no new layout: `need` is already the
        // block size, so the plain search and cut run directly; a failed search, or a larger
        // alignment, goes through `allocate`. With the release below: host benchmark, random
        // actions, N = 1,000, 210.9 → 200.4 x86-64 instructions per realloc (callgrind).
        // 32-bit targets call `allocate` (one copy of the search: code size).
        let found = if cfg!(target_pointer_width = "64") && old.align() <= G {
            self.find(need >> Self::G_LOG2)
        } else {
            Self::CLASSES
        };
        let new = if found < Self::CLASSES {
            // SAFETY: `find` found list `found` non-empty with a first block of at least `need`
            // bytes, so the control block exists; `need` is a multiple of `G`, at least
            // `MIN_BLOCK`. The payload is then exposed for `new_size` bytes, as `allocate`
            // does.
            unsafe { expose(Self::take(self.ctrl, found, need)?, new_size) }
        } else {
            self.allocate(Layout::from_size_align(new_size, old.align()).ok()?)?
        };
        // SAFETY: `ptr` is valid for `bsize − W` bytes, `new` for `new_size >= old.size()`;
        // two live blocks do not overlap.
        unsafe { ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), old.size().min(bsize - W)) };
        if cfg!(target_pointer_width = "64") {
            // `b` is known to be a used block of ours: released without `deallocate`'s checks.
            // Its header is read again: the allocation may have changed its `PREV_FREE` and
            // `PREV_MIN` flags (TL3).
            // SAFETY: `b` is still a used block (TL2) and a region exists (it was allocated).
            unsafe { Self::release(self.ctrl, b, word_usize(b, 0)) };
        } else {
            // SAFETY: `ptr` is still a live block of ours (the size comes from its header).
            unsafe { self.deallocate(ptr, old) };
        }
        Some(new)
    }

    /// Always in place: the freed tail is merged with a free successor or becomes a free block
    /// when it is large enough.
    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        _old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let need = Self::units_checked(new_size)? << Self::G_LOG2;
        let b = ptr.as_ptr().wrapping_sub(W);
        // SAFETY: caller contract: `ptr` is a payload of ours, so `b` is a used block (TL1);
        // `need` is a multiple of `G` and at least `MIN_BLOCK`.
        unsafe { self.shrink_block(b, word_usize(b, 0), need) };
        // SAFETY: `ptr` is the payload of a used block with room for `new_size` bytes.
        Some(unsafe { expose(ptr, new_size) })
    }

    fn validate(&self) -> Result<(), Corruption> {
        self.check()
    }
}

/// Free space from the lists: payload bytes (block sizes less the header word).
impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool> HeapStats
    for TlsfWith<FL, SL, G, HARDENED>
{
    /// O(free blocks): walks every list.
    fn free_bytes(&self) -> usize {
        let ctrl = self.ctrl;
        if ctrl.is_null() {
            return 0;
        }
        let mut total = 0usize;
        for idx in 0..Self::CLASSES {
            // SAFETY: `idx < CLASSES`; the control block exists; list entries are free blocks
            // whose `NEXT` is null or a free block (TL6).
            let mut b = unsafe { Self::first(ctrl, idx) };
            while !b.is_null() {
                // SAFETY: as above.
                let size = unsafe { word_usize(b, 0) } & !FLAGS;
                total = total.saturating_add(size - W);
                // SAFETY: as above.
                b = unsafe { Self::load(ctrl, b, NEXT) };
            }
        }
        total
    }

    /// O(1): exactly what [`allocate`](Heap::allocate) serves (at alignment `<= G`). A request
    /// succeeds when a non-empty class lies above its own class, or when one of the first
    /// three blocks of its own class fits it. The largest such request is the largest of the
    /// first three blocks of the highest non-empty class (every block of a class is at least
    /// the class's smallest size); larger blocks further down that list are not reached.
    fn largest_free_block(&self) -> usize {
        let ctrl = self.ctrl;
        if ctrl.is_null() {
            return 0;
        }
        // SAFETY: the control block exists.
        let sum = unsafe { Self::summary(ctrl).read() };
        if sum == 0 {
            return 0;
        }
        let w = Self::highest(sum);
        // SAFETY: summary bits are below `WORDS` (TL7).
        let bits = unsafe { Self::bitmap(ctrl, w).read() };
        let idx = w * Self::BITS + Self::highest(bits);
        // SAFETY: list `idx` is non-empty (TL7, `bits != 0` since its summary bit is set);
        // its blocks are free blocks linked by `NEXT` (TL6), checked when `HARDENED`.
        unsafe {
            let mut b = Self::first(ctrl, idx);
            let mut most = 0;
            for _ in 0..Self::LOOK {
                if b.is_null() {
                    break;
                }
                most = most.max(word_usize(b, 0) & !FLAGS);
                if HARDENED && !Self::links_sound(ctrl, b) {
                    break;
                }
                b = Self::load(ctrl, b, NEXT);
            }
            most - W
        }
    }
}

/// The hardened variant's own method.
impl<const FL: usize, const SL: usize, const G: usize> TlsfWith<FL, SL, G, true> {
    /// Mixes `seed` (from a hardware random number generator, say) into the key the free-list
    /// links are stored with (TL9) and re-encodes every link: O(free blocks). Without it the
    /// key comes from addresses alone, which a stray write does not match but an attacker who
    /// knows the memory map can compute. Before the first claim there is nothing to key and
    /// nothing happens.
    ///
    /// # Errors
    ///
    /// The [`validate`](Heap::validate) error if the heap is damaged; nothing is changed then.
    pub fn rekey(&mut self, seed: usize) -> Result<(), Corruption> {
        self.check()?;
        let ctrl = self.ctrl;
        if ctrl.is_null() {
            return Ok(());
        }
        // SAFETY: the control block exists and has a key word (`HARDENED`).
        let new = crate::first_fit::mix(unsafe { Self::key(ctrl) } ^ seed);
        for idx in 0..Self::CLASSES {
            // SAFETY: `idx < CLASSES`; `check` just found every list sound (TL6), so each
            // link decodes (old key) to null or a free block, whose link words are rewritten
            // under the new key. The old key stays in place until the end.
            unsafe {
                let head = Self::head(ctrl, idx).cast::<u8>();
                let mut b = Self::load(ctrl, head, 0);
                set_word(head, 0, b.map_addr(|a| a ^ new));
                while !b.is_null() {
                    let n = Self::load(ctrl, b, NEXT);
                    let p = Self::load(ctrl, b, PREV);
                    set_word(b, NEXT, n.map_addr(|a| a ^ new));
                    set_word(b, PREV, p.map_addr(|a| a ^ new));
                    b = n;
                }
            }
        }
        // SAFETY: as above.
        unsafe { ctrl.add(Self::C_KEY).write(new) };
        Ok(())
    }
}

/// What `validate` checks, split out so the walk reads top-down.
impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool>
    TlsfWith<FL, SL, G, HARDENED>
{
    fn check(&self) -> Result<(), Corruption> {
        let bad = |what: &'static str, addr: usize| Err(Corruption { what, addr });
        if self.ctrl.is_null() {
            return Ok(());
        }
        let (lo, hi) = (self.range().0, self.hi());
        // SAFETY: the control block exists; its fields are words.
        let (regions, count) = unsafe {
            (
                self.ctrl.add(Self::C_REGIONS).cast::<*mut u8>().read(),
                self.ctrl.add(Self::C_REGION_COUNT).read(),
            )
        };

        // Physical walk of every region.
        let mut free_blocks = 0usize;
        let mut t = regions;
        let mut seen = 0usize;
        while !t.is_null() {
            seen += 1;
            if seen > count {
                return bad("TL8: region list longer than its count (cycle?)", t.addr());
            }
            let s = t.addr();
            if s % G != G - W || s < lo || s > hi {
                return bad("TL8: region trailer misplaced", s);
            }
            // SAFETY: `t` is a trailer within the heap's range (checked above; TL8).
            let (first, base, end) =
                unsafe { (word(t, T_FIRST), word_usize(t, T_BASE), word_usize(t, T_END)) };
            if first.addr() % G != G - W
                || first.addr() < base
                || first.addr() >= s
                || s + TRAILER > end
            {
                return bad("TL8: region bounds inconsistent", s);
            }
            if first.addr() + W < lo || s - first.addr() > Self::MAX_BLOCK {
                return bad("TL8: region outside the heap's address range", first.addr());
            }
            let mut b = first;
            let mut prev_free = false;
            // Whether the block before is a free smallest block without a footer (TL3, TL5).
            let mut prev_min = false;
            while b.addr() < s {
                // SAFETY: `b` is in `[first, s)`, a header position reached by whole blocks.
                let hv = unsafe { word_usize(b, 0) };
                let size = hv & !FLAGS;
                if size < Self::MIN_BLOCK || size % G != 0 || size > s - b.addr() {
                    return bad("TL1: block size out of range", b.addr());
                }
                // A used header's `FREE` bit is `PREV_MIN` (TL2, TL3).
                let free = hv & USED == 0;
                if free && hv & FREE == 0 {
                    return bad("TL2: block neither free nor used", b.addr());
                }
                if (hv & PREV_FREE != 0) != prev_free {
                    return bad("TL3: PREV_FREE disagrees with the previous block", b.addr());
                }
                if free {
                    if prev_free {
                        return bad("TL4: adjacent free blocks", b.addr());
                    }
                    let min = Self::TINY && size == Self::MIN_BLOCK;
                    // SAFETY: the footer is the last word of the block, inside `[b, s)`.
                    if !min && unsafe { word(b, size - W) } != b {
                        return bad("TL5: footer does not point to its header", b.addr());
                    }
                    free_blocks += 1;
                    prev_min = min;
                } else if (hv & PREV_MIN != 0) != (prev_free && prev_min) {
                    return bad("TL3: PREV_MIN disagrees with the previous block", b.addr());
                }
                prev_free = free;
                // SAFETY: `size <= s − b`: stays in the region.
                b = unsafe { b.add(size) };
            }
            if b.addr() != s {
                return bad("TL1: blocks do not end at the sentinel", b.addr());
            }
            // SAFETY: `s` is the sentinel.
            let sv = unsafe { word_usize(t, 0) };
            if sv & !(Self::PREV_BITS | NO_MERGE) != 0
                || (sv & PREV_FREE != 0) != prev_free
                || (sv & PREV_MIN != 0) != (prev_free && prev_min)
            {
                return bad("TL2: bad sentinel", s);
            }
            // SAFETY: `t` is a trailer.
            t = unsafe { word(t, T_NEXT) };
        }
        if seen != count {
            return bad("TL8: region count disagrees with the list", 0);
        }

        // Lists and bitmaps.
        // SAFETY: the control block exists.
        let sum = unsafe { Self::summary(self.ctrl).read() };
        if Self::WORDS < Self::BITS && Self::from(sum, Self::WORDS) != 0 {
            return bad("TL7: summary bit above the last bitmap word", self.ctrl.addr());
        }
        let mut listed = 0usize;
        for w in 0..Self::WORDS {
            // SAFETY: `w < WORDS`.
            let bm = unsafe { Self::bitmap(self.ctrl, w).read() };
            if (sum & Self::bit(w) != 0) != (bm != 0) {
                return bad("TL7: summary disagrees with its bitmap word", self.ctrl.addr());
            }
            let classes = (Self::CLASSES - w * Self::BITS).min(Self::BITS);
            if classes < Self::BITS && Self::from(bm, classes) != 0 {
                return bad("TL7: bitmap bit beyond the last class", self.ctrl.addr());
            }
            for bit in 0..classes {
                let idx = w * Self::BITS + bit;
                // SAFETY: `idx < CLASSES`.
                let head = unsafe { Self::head(self.ctrl, idx) };
                // SAFETY: `head` is in the control block.
                let mut b = unsafe { Self::load(self.ctrl, head.cast(), 0) };
                if (bm & Self::bit(bit) != 0) == b.is_null() {
                    return bad("TL7: bitmap bit disagrees with the list", b.addr());
                }
                let mut prev = Self::pseudo_node(head);
                while !b.is_null() {
                    listed += 1;
                    if listed > free_blocks {
                        return bad(
                            "TL6: more listed blocks than free blocks (cycle or stray)",
                            b.addr(),
                        );
                    }
                    if !self.is_header_position(b) {
                        return bad("TL6: list entry outside every region", b.addr());
                    }
                    // SAFETY: `b` is a header position inside a region (just checked).
                    let hv = unsafe { word_usize(b, 0) };
                    let size = hv & !FLAGS;
                    if hv & FLAGS != FREE || size < Self::MIN_BLOCK || size > Self::MAX_BLOCK {
                        return bad("TL6: list entry is not a free block", b.addr());
                    }
                    if floor_index(size >> Self::G_LOG2, Self::SL_LOG2) != idx {
                        return bad("TL6: free block in the wrong list", b.addr());
                    }
                    // SAFETY: `b` is a free block: its links are valid words.
                    if unsafe { Self::load(self.ctrl, b, PREV) } != prev {
                        return bad("TL6: prev link broken", b.addr());
                    }
                    prev = b;
                    // SAFETY: as above.
                    b = unsafe { Self::load(self.ctrl, b, NEXT) };
                }
            }
        }
        if listed != free_blocks {
            return bad("TL6: a free block is in no list", 0);
        }
        Ok(())
    }

    /// Whether `b` is a header position strictly inside some region's block range.
    fn is_header_position(&self, b: *mut u8) -> bool {
        if b.addr() % G != G - W {
            return false;
        }
        // SAFETY: the control block exists (callers checked).
        let mut t = unsafe { self.ctrl.add(Self::C_REGIONS).cast::<*mut u8>().read() };
        while !t.is_null() {
            // SAFETY: `t` is a trailer (validated by the physical walk first).
            let first = unsafe { word(t, T_FIRST) };
            if first.addr() <= b.addr() && b.addr() < t.addr() {
                return true;
            }
            // SAFETY: as above.
            t = unsafe { word(t, T_NEXT) };
        }
        false
    }

    /// The class of a block of `size` bytes, for tests: `(first level, second level)`.
    #[cfg(test)]
    fn class_of(size: usize) -> (usize, usize) {
        let idx = floor_index(size >> Self::G_LOG2, Self::SL_LOG2);
        (idx >> Self::SL_LOG2, idx & (SL - 1))
    }

    /// The smallest block size in class `idx`, for tests.
    #[cfg(test)]
    fn class_min(idx: usize) -> usize {
        class_base(idx, Self::SL_LOG2) << Self::G_LOG2
    }
}

// ---- raw word access ------------------------------------------------------------------------

/// Reads the pointer-sized word at `b + off`.
///
/// # Safety
///
/// `b + off` is a word-aligned address of heap memory that holds a pointer written by the heap.
#[inline(always)]
unsafe fn word(b: *mut u8, off: usize) -> *mut u8 {
    // SAFETY: caller contract.
    unsafe { b.wrapping_add(off).cast::<*mut u8>().read() }
}

/// Writes a pointer at `b + off`.
///
/// # Safety
///
/// `b + off` is a word-aligned address of heap memory that no live allocation covers.
#[inline(always)]
unsafe fn set_word(b: *mut u8, off: usize, v: *mut u8) {
    // SAFETY: caller contract.
    unsafe { b.wrapping_add(off).cast::<*mut u8>().write(v) }
}

/// Reads the integer word at `b + off`.
///
/// # Safety
///
/// As for [`word`].
#[inline(always)]
unsafe fn word_usize(b: *mut u8, off: usize) -> usize {
    // SAFETY: caller contract.
    unsafe { b.wrapping_add(off).cast::<usize>().read() }
}

/// Writes an integer word at `b + off`.
///
/// # Safety
///
/// As for [`set_word`].
#[inline(always)]
unsafe fn set_word_usize(b: *mut u8, off: usize, v: usize) {
    // SAFETY: caller contract.
    unsafe { b.wrapping_add(off).cast::<usize>().write(v) }
}

/// Reads the footer just before header `b`: the header of the free block before it (TL5).
///
/// # Safety
///
/// `b` is a header whose `PREV_FREE` bit is set (TL3).
#[inline(always)]
unsafe fn footer_before(b: *mut u8) -> *mut u8 {
    // SAFETY: caller contract: the previous block is free, so its last word is its footer.
    unsafe { b.wrapping_sub(W).cast::<*mut u8>().read() }
}

/// Writes the footer of free block `b` of `size` bytes: its last word points to `b` (TL5).
///
/// # Safety
///
/// `b` is a block of `size >= MIN_BLOCK` bytes that is becoming free.
#[inline(always)]
unsafe fn set_footer(b: *mut u8, size: usize) {
    // SAFETY: caller contract: the last word is inside the block.
    unsafe { set_word(b, size - W, b) }
}

/// Poisons the part of free block `b` (`size` bytes) that the heap does not touch while the
/// block is free: all but the header, the two links and the footer (see `sanitize`).
///
/// # Safety
///
/// `b` is a free block of `size >= MIN_BLOCK` bytes that has just been filed in a list.
#[inline(always)]
unsafe fn poison_free(b: *mut u8, size: usize) {
    // SAFETY: `[b + 3W, b + size − W)` is inside the block and holds no metadata (TL5, TL6).
    unsafe { sanitize::poison(b.wrapping_add(PREV + W), size.saturating_sub(PREV + 2 * W)) };
}

/// Unpoisons all of free block `b`, which is leaving its list (see `sanitize`). Reads the
/// header only when poisoning is compiled in.
///
/// # Safety
///
/// `b` is a free block header (TL1, TL2).
#[inline(always)]
unsafe fn unpoison_block(b: *mut u8) {
    if sanitize::ACTIVE {
        // SAFETY: caller contract: the header is unpoisoned metadata.
        let size = unsafe { word_usize(b, 0) } & !FLAGS;
        // SAFETY: the block `[b, b + size)` is heap memory (TL1).
        unsafe { sanitize::unpoison(b, size) };
    }
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
        let b = p.as_ptr().wrapping_sub(W);
        // SAFETY: caller contract: `b` is a used block's header (TL1).
        let bsize = unsafe { word_usize(b, 0) } & !FLAGS;
        let end = p.as_ptr().wrapping_add(size);
        // SAFETY: both ranges are inside the block, `size <= bsize − W` (caller contract).
        unsafe {
            sanitize::unpoison(p.as_ptr(), size);
            sanitize::poison(end, bsize - W - size);
        }
    }
    p
}
