//! Fuzz entry points: each turns arbitrary bytes into a checked run, so a cargo-fuzz target is
//! one line (`fuzz_target!(|data: &[u8]| bareheap_testkit::fuzzing::heap::<FirstFit>(data));`)
//! and the committed corpus replays in plain `cargo test` (tests/fuzz_corpus.rs).
//!
//! Every entry point panics (which libFuzzer reports as a crash) on any violation the [`Rig`]
//! finds: overlap, misalignment, out-of-bounds block, changed contents, `validate()` failure,
//! a write outside the given memory, or a heap that is not pristine after draining.
//!
//! # Byte layout
//!
//! - [`heap`] and [`global`]: two header bytes choose the first region (length log-distributed
//!   from 0 to 64 KiB, base offset 0..64 from a page), the rest is a [`decode`]d program with
//!   alignments up to and past `2^(usize::BITS - 1)` and sizes up to `usize::MAX`.
//! - [`regions`]: four bytes per region (kind, length, offset), then a short program; regions
//!   of every length (0 to 64 KiB) at every offset, some carved adjacent from a reserve.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use bareheap::{Claim, Corruption, Heap, Locked, RawLock, Region, RegionError};

use crate::op::{decode, Op};
use crate::rig::{Config, RegionSpec, Rig};
use crate::subject::TestHeap;

/// Bytes of reserve arena that `Claim` operations carve from.
const RESERVE: usize = 64 << 10;
/// Operations per drain-and-check round for heaps that do not reuse freed blocks.
const BUMP_ROUND: u64 = 64;
/// The largest first region, as a log2.
const MAX_REGION_LOG2: u32 = 16;

/// A length from one byte: log-distributed in `0..2^MAX_REGION_LOG2` (the low bits pick the
/// magnitude, a second byte the mantissa).
fn region_len(magnitude: u8, mantissa: u8) -> usize {
    let log2 = u32::from(magnitude) % (MAX_REGION_LOG2 + 1);
    let base = 1usize << log2;
    // Spread within [base, 2 * base) using the mantissa; stays below 2^(MAX_REGION_LOG2 + 1).
    (base + (base * usize::from(mantissa)) / 256).min(1 << MAX_REGION_LOG2)
}

fn config<H: TestHeap>() -> Config {
    Config {
        label: alloc::string::String::from("fuzz input"),
        reserve: RESERVE,
        round_len: if H::REUSES_FREED { 0 } else { BUMP_ROUND },
        ..Config::default()
    }
}

/// Runs one fuzz input against a fresh `H`: a first region from the two header bytes, then
/// the decoded program, then drain, pristine and guard checks.
pub fn heap<H: TestHeap>(data: &[u8]) {
    let [magnitude, offset, rest @ ..] = data else { return };
    let spec = RegionSpec {
        len: region_len(*magnitude, offset.rotate_left(3)),
        offset: usize::from(*offset % 64),
    };
    let mut rig = Rig::new(H::empty(), config::<H>());
    // A refused first region is legal (too small): the program then runs on claims only.
    let _ = rig.claim(spec);
    rig.run(decode(rest));
    rig.finish();
}

/// [`heap`] through the `GlobalAlloc` interface of `Locked<L, H>` (alloc, alloc_zeroed,
/// dealloc and realloc), via the [`Global`] adapter.
pub fn global<L: RawLock, H: TestHeap>(data: &[u8]) {
    heap::<Global<L, H>>(data);
}

/// Region init and growth: up to 16 regions of any length at any offset, given separately or
/// carved adjacent from a reserve, then a short program and the usual checks. Zero bytes
/// outside an accepted region may change, and a refused region must be untouched.
pub fn regions<H: TestHeap>(data: &[u8]) {
    let mut rig = Rig::new(H::empty(), config::<H>());
    let mut chunks = data.chunks_exact(4);
    for [kind, magnitude, mantissa, offset] in
        chunks.by_ref().take(16).map(|c| [c[0], c[1], c[2], c[3]])
    {
        let len = region_len(magnitude, mantissa);
        let offset = usize::from(offset);
        match kind % 4 {
            // A region of its own, at an offset from a page boundary (every residue mod 256).
            0 | 1 => {
                let _ = rig.claim(RegionSpec { len, offset });
            }
            // Adjacent to (offset 0) or near the previous reserve claim.
            2 => {
                let _ = rig.claim_reserve(len % (64 << 10), 0);
            }
            _ => {
                let _ = rig.claim_reserve(len % (64 << 10), offset % 64);
            }
        }
        if !H::MULTI_REGION && rig.stats().claims > 0 {
            break;
        }
    }
    let ops: alloc::vec::Vec<Op> = decode(chunks.remainder()).into_iter().take(64).collect();
    rig.run(ops);
    rig.finish();
}

/// A [`TestHeap`] view of `Locked<L, H>` that makes every call through `GlobalAlloc`:
/// `allocate` is `alloc` (or `alloc_zeroed`, whose zeroes are checked, for odd sizes), `grow`
/// and `shrink` are `realloc`, `deallocate` is `dealloc`. Size 0, which `GlobalAlloc` does not
/// allow, is passed on as size 1.
pub struct Global<L, H> {
    locked: Locked<L, H>,
}

impl<L: RawLock, H> Global<L, H> {
    /// The wrapped allocator.
    pub fn locked(&self) -> &Locked<L, H> {
        &self.locked
    }
}

/// `layout` with size at least 1 (what `GlobalAlloc` requires).
fn nonzero(layout: Layout) -> Layout {
    // A size of at most `layout.size().max(1)` with a valid alignment stays a valid layout:
    // rounding 1 up to the alignment cannot exceed `isize::MAX`.
    Layout::from_size_align(layout.size().max(1), layout.align()).unwrap_or(layout)
}

// SAFETY: every method forwards to `Locked`'s `GlobalAlloc`, whose blocks are valid, aligned
// and disjoint; sizes are raised to at least 1 consistently for every call on a block, so the
// layout passed to `dealloc`/`realloc` is the one the block was allocated with.
unsafe impl<L: RawLock, H: Heap> Heap for Global<L, H> {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let l = nonzero(layout);
        if l.size() % 2 == 1 {
            // SAFETY: `l` has a non-zero size.
            let p = NonNull::new(unsafe { self.locked.alloc_zeroed(l) })?;
            // SAFETY: `alloc_zeroed` returned a block valid for `l.size()` bytes that nothing
            // else accesses yet.
            let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), l.size()) };
            assert!(
                bytes.iter().all(|&b| b == 0),
                "alloc_zeroed returned a block that is not zeroed"
            );
            Some(p)
        } else {
            // SAFETY: `l` has a non-zero size.
            NonNull::new(unsafe { self.locked.alloc(l) })
        }
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract: `ptr` was allocated here with `layout`, i.e. by
        // `Locked` with `nonzero(layout)`.
        unsafe { self.locked.dealloc(ptr.as_ptr(), nonzero(layout)) }
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller's contract: `ptr` is live with `old` (`nonzero(old)` in `Locked`);
        // `realloc` itself refuses a `new_size` that makes no valid layout.
        NonNull::new(unsafe { self.locked.realloc(ptr.as_ptr(), nonzero(old), new_size.max(1)) })
    }

    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: as in `grow`.
        NonNull::new(unsafe { self.locked.realloc(ptr.as_ptr(), nonzero(old), new_size.max(1)) })
    }

    fn validate(&self) -> Result<(), Corruption> {
        // The rig calls `validate` between operations, so the lock is free; if it is not, the
        // lock is broken, which is a finding too.
        self.locked
            .lock(|h| h.validate())
            .unwrap_or(Err(Corruption { what: "Locked: lock held between operations", addr: 0 }))
    }
}

impl<L: RawLock, H: Claim> Claim for Global<L, H> {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        self.locked.claim(region)
    }
}

impl<L: RawLock, H: TestHeap> TestHeap for Global<L, H> {
    const NAME: &'static str = "Locked(GlobalAlloc)";
    const REUSES_FREED: bool = H::REUSES_FREED;
    const MULTI_REGION: bool = H::MULTI_REGION;
    const IN_PLACE: bool = H::IN_PLACE;
    const MIN_REGION: usize = H::MIN_REGION;
    const REFUSED_BELOW: usize = H::REFUSED_BELOW;

    fn empty() -> Self {
        Global { locked: Locked::new(H::empty()) }
    }

    fn free_bytes(&self) -> Option<usize> {
        self.locked.lock(|h| h.free_bytes()).flatten()
    }

    unsafe fn reset(&mut self) -> bool {
        // SAFETY: forwarded caller contract.
        unsafe { self.locked.get_mut().reset() }
    }
}

/// A fuzz entry point: runs one input, panics on a finding.
pub type Entry = fn(&[u8]);

/// Every fuzz target by name (the file name under `fuzz/fuzz_targets/`), with its entry point.
/// The corpus replay test runs `fuzz/corpus/<name>/*` through these; adding a heap is one line
/// here plus a one-line target file.
pub const TARGETS: &[(&str, Entry)] = &[
    ("heap_first_fit", heap::<bareheap::FirstFit>),
    ("heap_bump", heap::<bareheap::Bump>),
    ("heap_slab", heap::<bareheap::Slab<bareheap::FirstFit>>),
    ("heap_tlsf", heap::<bareheap::Tlsf>),
    ("global_locked", global::<bareheap::Spin, bareheap::FirstFit>),
    ("regions", regions::<bareheap::FirstFit>),
];
