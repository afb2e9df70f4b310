//! The runner: a heap, the arenas it was given, and the shadow that checks it, driven one
//! operation at a time.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use bareheap::{Heap, RegionError};

use crate::arena::Arena;
use crate::op::Op;
use crate::shadow::{Shadow, Violation};
use crate::subject::{BoundOp, TestHeap};

/// How a [`Rig`] runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Printed in every failure message (e.g. the seed), so a failure can be replayed.
    pub label: String,
    /// Call `validate()` after every `validate_every`-th operation (1: after each; 0: never).
    pub validate_every: u64,
    /// Bytes of reserve arena that [`Op::Claim`] carves new regions from (0: claims skipped).
    pub reserve: usize,
    /// Drain and check the heap is pristine after every `round_len` operations of
    /// [`Rig::run`] (0: only in [`Rig::finish`]). A bump allocator needs rounds.
    pub round_len: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { label: String::new(), validate_every: 1, reserve: 0, round_len: 0 }
    }
}

impl Config {
    /// The default configuration with a label.
    pub fn labelled(label: impl Into<String>) -> Self {
        Config { label: label.into(), ..Config::default() }
    }
}

/// A region to give a heap: `len` bytes starting `offset` bytes past a page boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    /// Length in bytes.
    pub len: usize,
    /// Distance of the base from a 4096-aligned address.
    pub offset: usize,
}

impl RegionSpec {
    /// `len` bytes at a page-aligned base.
    pub const fn new(len: usize) -> Self {
        RegionSpec { len, offset: 0 }
    }
}

/// A live block handed out through a [`Rig`]: where, with which layout, and the id whose
/// pattern fills it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// The block's first byte.
    pub ptr: NonNull<u8>,
    /// The layout it was last allocated or resized with.
    pub layout: Layout,
    /// Its pattern id.
    pub id: u64,
}

impl Block {
    /// The block's address.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr().addr()
    }
}

/// Counters of what a run did. `Display` prints one summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Program operations applied ([`Rig::apply`]); direct calls are counted only below.
    pub ops: u64,
    /// `allocate` calls.
    pub allocs: u64,
    /// `allocate` calls that returned `None`.
    pub alloc_failed: u64,
    /// `Alloc` operations whose size and alignment are no valid `Layout` (heap not called).
    pub invalid_layouts: u64,
    /// `deallocate` calls.
    pub frees: u64,
    /// `grow` calls.
    pub grows: u64,
    /// `grow` calls that kept the address.
    pub grows_in_place: u64,
    /// `grow` calls that returned `None`.
    pub grow_failed: u64,
    /// `shrink` calls.
    pub shrinks: u64,
    /// `shrink` calls that kept the address.
    pub shrinks_in_place: u64,
    /// `shrink` calls that returned `None`.
    pub shrink_failed: u64,
    /// Regions accepted by `claim`.
    pub claims: u64,
    /// Regions refused by `Region::new` or `claim`.
    pub claims_rejected: u64,
    /// Operations skipped (no live block, reserve exhausted, size overflow).
    pub skipped: u64,
    /// `validate()` calls (all returned `Ok`).
    pub validations: u64,
    /// Block bytes whose contents were verified.
    pub bytes_checked: u64,
    /// The most blocks live at once.
    pub max_live: usize,
    /// The most requested bytes live at once.
    pub max_live_bytes: usize,
    /// Pristine checks passed (drain, then the same capacity as a fresh heap).
    pub pristine_checks: u64,
    /// The most loop iterations one call took, indexed by [`BoundOp`] (allocate, deallocate,
    /// grow, shrink); all 0 for a heap that does not count them (RELIABILITY.md F6).
    pub max_iterations: [u64; 4],
    /// Calls held against the heap's documented loop bound (all within it).
    pub bound_checks: u64,
}

impl core::ops::AddAssign<&Stats> for Stats {
    fn add_assign(&mut self, o: &Stats) {
        self.ops += o.ops;
        self.allocs += o.allocs;
        self.alloc_failed += o.alloc_failed;
        self.invalid_layouts += o.invalid_layouts;
        self.frees += o.frees;
        self.grows += o.grows;
        self.grows_in_place += o.grows_in_place;
        self.grow_failed += o.grow_failed;
        self.shrinks += o.shrinks;
        self.shrinks_in_place += o.shrinks_in_place;
        self.shrink_failed += o.shrink_failed;
        self.claims += o.claims;
        self.claims_rejected += o.claims_rejected;
        self.skipped += o.skipped;
        self.validations += o.validations;
        self.bytes_checked += o.bytes_checked;
        self.max_live = self.max_live.max(o.max_live);
        self.max_live_bytes = self.max_live_bytes.max(o.max_live_bytes);
        self.pristine_checks += o.pristine_checks;
        for (m, o) in self.max_iterations.iter_mut().zip(o.max_iterations) {
            *m = (*m).max(o);
        }
        self.bound_checks += o.bound_checks;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ops={} alloc={} (null {}, invalid layout {}) free={} grow={} (in place {}, null {}) \
             shrink={} (in place {}, null {}) claim={} (refused {}) skipped={} validate={} \
             checked_bytes={} max_live={} max_live_bytes={} pristine_checks={}",
            self.ops,
            self.allocs,
            self.alloc_failed,
            self.invalid_layouts,
            self.frees,
            self.grows,
            self.grows_in_place,
            self.grow_failed,
            self.shrinks,
            self.shrinks_in_place,
            self.shrink_failed,
            self.claims,
            self.claims_rejected,
            self.skipped,
            self.validations,
            self.bytes_checked,
            self.max_live,
            self.max_live_bytes,
            self.pristine_checks
        )?;
        if self.bound_checks > 0 {
            let [a, d, g, s] = self.max_iterations;
            write!(
                f,
                " loop_bound_checks={} max_loop_iterations(alloc {a}, free {d}, grow {g}, shrink {s})",
                self.bound_checks
            )?;
        }
        Ok(())
    }
}

/// A region a heap accepted: where it came from, to replay the claim on a fresh heap.
#[derive(Clone, Copy, Debug)]
struct ClaimRecord {
    arena: usize,
    offset: usize,
    len: usize,
    usable: usize,
    /// Whether it touched a region claimed before (then `usable` depends on the heap's state).
    touches: bool,
}

/// A heap under test with its arenas and its shadow model.
///
/// Every heap call goes through the shadow: a returned block must be aligned, inside memory
/// the heap was given and disjoint from every live block; it is then filled with its id's
/// pattern, which is verified before it is freed or resized and after a resize (up to the
/// smaller size). `validate()` runs after every operation (see [`Config::validate_every`]).
/// A violation panics with the heap's name, the label, the operation number and the operation.
///
/// ```
/// use bareheap_testkit::{program, Config, RefHeap, RegionSpec, Rig};
/// let mut rig = Rig::with_regions(RefHeap::new(), &[RegionSpec::new(1 << 16)], Config::labelled("doc"));
/// rig.run(program(1, 1_000));
/// let stats = rig.finish(); // drains, checks the heap is pristine and the guards intact
/// assert_eq!(stats.ops, 1_000);
/// ```
///
/// # Invariants
///
/// - **RG1** `live` holds exactly the blocks the shadow records, each filled with its pattern
///   for its whole size.
/// - **RG2** `heap` is declared before `arenas`, so it is dropped first: no heap outlives the
///   memory it was given.
pub struct Rig<H: TestHeap> {
    heap: H,
    arenas: Vec<Arena>,
    shadow: Shadow,
    live: Vec<Block>,
    claims: Vec<ClaimRecord>,
    /// The reserve arena for [`Op::Claim`] and the data offset of its first unused byte.
    reserve: Option<(usize, usize)>,
    next_id: u64,
    /// Heap calls made through the rig (for the `validate_every` cadence).
    calls: u64,
    last_op: Option<Op>,
    cfg: Config,
    stats: Stats,
}

impl<H: TestHeap> Rig<H> {
    /// A rig around `heap`, which must not have been given memory yet.
    pub fn new(heap: H, cfg: Config) -> Self {
        let mut rig = Rig {
            heap,
            arenas: Vec::new(),
            shadow: Shadow::new(),
            live: Vec::new(),
            claims: Vec::new(),
            reserve: None,
            next_id: 1,
            calls: 0,
            last_op: None,
            cfg,
            stats: Stats::default(),
        };
        if rig.cfg.reserve > 0 {
            rig.arenas.push(Arena::new(rig.cfg.reserve));
            rig.reserve = Some((rig.arenas.len() - 1, 0));
        }
        rig
    }

    /// A rig around `heap` that has been given every region of `specs`.
    ///
    /// # Panics
    ///
    /// If the heap refuses one of them.
    pub fn with_regions(heap: H, specs: &[RegionSpec], cfg: Config) -> Self {
        let mut rig = Rig::new(heap, cfg);
        for &spec in specs {
            if let Err(e) = rig.claim(spec) {
                rig.fail(&format!("claim of {spec:?} refused: {e}"));
            }
        }
        rig
    }

    /// Panics with the context of the current operation.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{} [{}] after {} program ops and {} heap calls, last op {:?}: {msg}",
            H::NAME,
            self.cfg.label,
            self.stats.ops,
            self.calls,
            self.last_op
        )
    }

    #[track_caller]
    fn check<T>(&self, r: Result<T, Violation>) -> T {
        match r {
            Ok(t) => t,
            Err(v) => self.fail(&v),
        }
    }

    /// The heap, for direct inspection.
    pub fn heap(&self) -> &H {
        &self.heap
    }

    /// The heap, for calls the rig does not model. Blocks allocated this way are unknown to
    /// the shadow: free them before the rig checks the heap is pristine.
    pub fn heap_mut(&mut self) -> &mut H {
        &mut self.heap
    }

    /// The live blocks, in no particular order.
    pub fn blocks(&self) -> &[Block] {
        &self.live
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The shadow model.
    pub fn shadow(&self) -> &Shadow {
        &self.shadow
    }

    /// The arenas (the reserve first, if any).
    pub fn arenas(&self) -> &[Arena] {
        &self.arenas
    }

    /// Gives the heap a new region in a fresh arena of its own.
    ///
    /// # Errors
    ///
    /// What `Region::new` or the heap's `claim` said; then the arena's bytes must still be all
    /// guard pattern (checked by [`Rig::check_guards`]).
    pub fn claim(&mut self, spec: RegionSpec) -> Result<usize, RegionError> {
        let len = spec.offset.checked_add(spec.len).expect("region spec overflows");
        self.arenas.push(Arena::new(len));
        self.claim_in(self.arenas.len() - 1, spec.offset, spec.len)
    }

    /// Gives the heap `len` bytes of the reserve arena, `offset` bytes after the previous
    /// reserve claim. `None` if the reserve is exhausted (or there is none).
    pub fn claim_reserve(
        &mut self,
        len: usize,
        offset: usize,
    ) -> Option<Result<usize, RegionError>> {
        let (arena, cursor) = self.reserve?;
        let start = cursor.checked_add(offset)?;
        let end = start.checked_add(len)?;
        if end > self.arenas[arena].len() {
            return None;
        }
        self.reserve = Some((arena, end));
        Some(self.claim_in(arena, start, len))
    }

    fn claim_in(&mut self, arena: usize, offset: usize, len: usize) -> Result<usize, RegionError> {
        // SAFETY: RG2: the arena lives in `self.arenas` until after `self.heap` is dropped, and
        // the rig never refills an arena.
        let region = match unsafe { self.arenas[arena].region(offset, len) } {
            Ok(r) => r,
            Err(e) => {
                self.stats.claims_rejected += 1;
                return Err(e);
            }
        };
        let start = region.base().as_ptr().addr();
        match self.heap.claim(region) {
            Ok(usable) => {
                // A region that touches a claimed one may be merged with it, which can free
                // that region's end marker too; otherwise usable bytes never exceed the length.
                let end = start + len;
                let touches = self.shadow.regions().iter().any(|&(s, e)| e == start || s == end);
                if usable > len && !touches {
                    self.fail(&format!("claim of {len} bytes reported {usable} usable bytes"));
                }
                self.shadow.add_region(start, len);
                self.claims.push(ClaimRecord { arena, offset, len, usable, touches });
                self.stats.claims += 1;
                self.after_op();
                Ok(usable)
            }
            Err(e) => {
                self.arenas[arena].ungive(offset);
                self.stats.claims_rejected += 1;
                self.after_op();
                Err(e)
            }
        }
    }

    /// Runs `validate()` if this operation is due for it.
    fn after_op(&mut self) {
        self.calls += 1;
        let every = self.cfg.validate_every;
        if every != 0 && self.calls.is_multiple_of(every) {
            self.validate();
        }
    }

    /// Calls the heap's `validate()` and fails on `Err`.
    #[track_caller]
    pub fn validate(&mut self) {
        if let Err(c) = self.heap.validate() {
            self.fail(&format!("validate: {c}"));
        }
        self.stats.validations += 1;
    }

    /// Runs one heap call; for a heap that counts its loop iterations (F6), records them and
    /// fails when they exceed the heap's documented bound for the state before the call.
    /// Not under Miri, where the extra free-list walk per call would only cost time (the
    /// bound is a property of the algorithm, checked natively in every build).
    fn bounded<R>(&mut self, op: BoundOp, call: impl FnOnce(&mut H) -> R) -> R {
        let Some(before) = self.heap.loop_iterations().filter(|_| !cfg!(miri)) else {
            return call(&mut self.heap);
        };
        let bound = self.heap.loop_bound(op);
        let r = call(&mut self.heap);
        let n = self.heap.loop_iterations().unwrap_or(before).wrapping_sub(before);
        let max = &mut self.stats.max_iterations[op as usize];
        *max = (*max).max(n);
        if let Some(bound) = bound {
            if n > bound {
                self.fail(&format!(
                    "F6: {op:?} took {n} loop iterations, over its documented bound of {bound}"
                ));
            }
            self.stats.bound_checks += 1;
        }
        r
    }

    /// Allocates through the shadow. `None` is legal (counted); a returned block is checked
    /// and filled.
    pub fn alloc(&mut self, layout: Layout) -> Option<Block> {
        self.stats.allocs += 1;
        let Some(ptr) = self.bounded(BoundOp::Allocate, |h| h.allocate(layout)) else {
            self.stats.alloc_failed += 1;
            self.after_op();
            return None;
        };
        let id = self.next_id;
        self.next_id += 1;
        let inserted = self.shadow.insert(ptr.as_ptr().addr(), layout.size(), layout.align(), id);
        self.check(inserted);
        // SAFETY: the shadow just confirmed the block lies in memory given to the heap and
        // overlaps no live block, so only this call accesses it; the `Heap` contract makes it
        // valid for `layout.size()` bytes.
        unsafe { self.shadow.fill(ptr, id, 0, layout.size()) };
        let block = Block { ptr, layout, id };
        self.live.push(block);
        self.stats.max_live = self.stats.max_live.max(self.live.len());
        self.stats.max_live_bytes = self.stats.max_live_bytes.max(self.shadow.live_bytes());
        self.after_op();
        Some(block)
    }

    /// The index of `block` in `live`.
    fn slot(&self, block: Block) -> usize {
        match self.live.iter().rposition(|b| *b == block) {
            Some(i) => i,
            None => self.fail(&format!("unknown block: {block:?} is not live")),
        }
    }

    /// Verifies a live block's contents.
    fn verify(&mut self, b: Block, len: usize, what: &str) {
        // SAFETY: RG1: a live block, filled for its whole size (`len` is at most that), and
        // no other access happens during the call.
        let r = unsafe { self.shadow.verify(b.ptr, b.id, len, what) };
        self.check(r);
    }

    /// Frees a live block after verifying its contents.
    pub fn free(&mut self, block: Block) {
        let i = self.slot(block);
        self.free_at(i);
    }

    fn free_at(&mut self, i: usize) {
        let b = self.live.swap_remove(i);
        let removed = self.shadow.remove(b.addr());
        self.check(removed);
        self.verify(b, b.layout.size(), "before free");
        // SAFETY: RG1: `b` is currently allocated with exactly `b.layout`.
        self.bounded(BoundOp::Deallocate, |h| unsafe { h.deallocate(b.ptr, b.layout) });
        self.stats.frees += 1;
        self.after_op();
    }

    /// Grows a live block (`Heap::grow`). `None` is legal: the old block must be intact.
    ///
    /// # Panics
    ///
    /// If `new_size < block.layout.size()`.
    pub fn grow(&mut self, block: Block, new_size: usize) -> Option<Block> {
        assert!(new_size >= block.layout.size(), "grow to a smaller size");
        let i = self.slot(block);
        self.resize_at(i, new_size)
    }

    /// Shrinks a live block (`Heap::shrink`). `None` is legal: the old block must be intact.
    ///
    /// # Panics
    ///
    /// If `new_size > block.layout.size()`.
    pub fn shrink(&mut self, block: Block, new_size: usize) -> Option<Block> {
        assert!(new_size <= block.layout.size(), "shrink to a larger size");
        let i = self.slot(block);
        self.resize_at(i, new_size)
    }

    /// Grows (`new_size >= old`) or shrinks live block `i`.
    fn resize_at(&mut self, i: usize, new_size: usize) -> Option<Block> {
        let b = self.live[i];
        let (old, align) = (b.layout.size(), b.layout.align());
        let growing = new_size >= old;
        self.verify(b, old, "before resize");
        let r = if growing {
            self.stats.grows += 1;
            // SAFETY: RG1: `b` is currently allocated with `b.layout`; `new_size >= old`.
            self.bounded(BoundOp::Grow, |h| unsafe { h.grow(b.ptr, b.layout, new_size) })
        } else {
            self.stats.shrinks += 1;
            // SAFETY: RG1: `b` is currently allocated with `b.layout`; `new_size < old`.
            self.bounded(BoundOp::Shrink, |h| unsafe { h.shrink(b.ptr, b.layout, new_size) })
        };
        let Some(p) = r else {
            if growing {
                self.stats.grow_failed += 1;
            } else {
                self.stats.shrink_failed += 1;
            }
            self.verify(b, old, "after a failed resize: the old block must be untouched");
            self.after_op();
            return None;
        };
        let Ok(layout) = Layout::from_size_align(new_size, align) else {
            self.fail(&format!("resize to {new_size} (align {align}) is impossible but succeeded"))
        };
        let removed = self.shadow.remove(b.addr());
        self.check(removed);
        let inserted = self.shadow.insert(p.as_ptr().addr(), new_size, align, b.id);
        self.check(inserted);
        let nb = Block { ptr: p, layout, id: b.id };
        self.verify(nb, old.min(new_size), "after resize: contents up to min(old, new)");
        // SAFETY: the shadow confirmed the resized block is in given memory and overlaps no
        // other live block; the `Heap` contract makes it valid for `new_size` bytes.
        unsafe { self.shadow.fill(p, b.id, old, new_size) };
        if p == b.ptr {
            if growing {
                self.stats.grows_in_place += 1;
            } else {
                self.stats.shrinks_in_place += 1;
            }
        }
        self.live[i] = nb;
        self.stats.max_live_bytes = self.stats.max_live_bytes.max(self.shadow.live_bytes());
        self.after_op();
        Some(nb)
    }

    /// Applies one program operation.
    pub fn apply(&mut self, op: Op) {
        self.last_op = Some(op);
        self.stats.ops += 1;
        let live = self.live.len();
        match op {
            Op::Alloc { size, align_log2 } => {
                let layout = 1usize
                    .checked_shl(u32::from(align_log2))
                    .and_then(|align| Layout::from_size_align(size, align).ok());
                match layout {
                    Some(layout) => {
                        self.alloc(layout);
                    }
                    None => self.stats.invalid_layouts += 1,
                }
            }
            Op::Free { idx } if live > 0 => self.free_at(idx % live),
            Op::Grow { idx, by } if live > 0 => {
                let i = idx % live;
                match self.live[i].layout.size().checked_add(by) {
                    Some(new_size) => {
                        self.resize_at(i, new_size);
                    }
                    None => self.skip(),
                }
            }
            Op::Shrink { idx, by } if live > 0 => {
                let i = idx % live;
                let new_size = self.live[i].layout.size().saturating_sub(by);
                self.resize_at(i, new_size);
            }
            Op::Claim { len, offset } => {
                if self.claim_reserve(len, offset).is_none() {
                    self.skip();
                }
            }
            Op::Free { .. } | Op::Grow { .. } | Op::Shrink { .. } => self.skip(),
        }
    }

    fn skip(&mut self) {
        self.stats.skipped += 1;
    }

    /// Applies a whole program, draining and checking the heap is pristine every
    /// [`Config::round_len`] operations.
    pub fn run(&mut self, ops: impl IntoIterator<Item = Op>) {
        let round = self.cfg.round_len;
        for (n, op) in ops.into_iter().enumerate() {
            self.apply(op);
            if round != 0 && (n as u64 + 1).is_multiple_of(round) {
                self.drain();
                self.assert_pristine();
            }
        }
    }

    /// Verifies the contents of every live block.
    pub fn verify_all(&mut self) {
        for i in 0..self.live.len() {
            let b = self.live[i];
            self.verify(b, b.layout.size(), "verify_all");
        }
    }

    /// Frees every live block, most recent first.
    pub fn drain(&mut self) {
        while !self.live.is_empty() {
            self.free_at(self.live.len() - 1);
        }
    }

    /// Panics if a byte of any arena outside the regions the heap accepted has changed.
    pub fn check_guards(&self) {
        for a in &self.arenas {
            if let Some(off) = a.first_changed() {
                self.fail(&format!(
                    "guard byte changed at data offset {off} of a {}-byte arena (given {:?}): \
                     the heap wrote outside the memory it was given",
                    a.len(),
                    a.given()
                ));
            }
        }
    }

    /// The largest allocations the heap can make now, one after another (see
    /// [`capacity_profile`]). Only meaningful when no block is live.
    pub fn capacity_profile(&mut self) -> Vec<usize> {
        let upper = self.claims.iter().map(|c| c.len).sum();
        capacity_profile(&mut self.heap, upper)
    }

    /// E3: with no block live, the heap must offer the same capacity as a fresh heap given the
    /// same regions in the same order (same addresses modulo 4096). A heap that does not reuse
    /// freed blocks is [reset](TestHeap::reset) first.
    ///
    /// # Panics
    ///
    /// If a block is live, if the heap cannot be reset when it must, if replaying a claim on
    /// the fresh heap gives another result, or if the capacities differ.
    pub fn assert_pristine(&mut self) {
        if !self.live.is_empty() {
            self.fail("assert_pristine with live blocks");
        }
        // SAFETY: no block is live (checked above): the shadow and `live` are empty, so the rig
        // uses no block from before the reset.
        if !H::REUSES_FREED && !unsafe { self.heap.reset() } {
            self.fail("E3: the heap does not reuse freed memory and cannot reset");
        }
        self.validate();
        let got_free = self.heap.free_bytes();
        let mut got = self.capacity_profile();
        self.validate();
        let (mut want, want_free) = self.fresh_capacity_profile();
        // Compared as multisets: which of two free blocks a heap hands out first may depend on
        // the order it freed them in (a segregated-fit heap takes the first of a list).
        got.sort_unstable();
        want.sort_unstable();
        if got_free != want_free {
            self.fail(&format!(
                "E3: not pristine after freeing everything: the heap counts {got_free:?} free \
                 bytes, a fresh heap with the same regions {want_free:?}"
            ));
        }
        if got != want {
            self.fail(&format!(
                "E3: not pristine after freeing everything: largest allocations one after \
                 another {got:?}, a fresh heap with the same regions gives {want:?}"
            ));
        }
        self.stats.pristine_checks += 1;
    }

    /// The capacity profile and free-byte count of a fresh heap given twins of this rig's
    /// regions.
    fn fresh_capacity_profile(&self) -> (Vec<usize>, Option<usize>) {
        let mut twins: Vec<Arena> =
            self.arenas.iter().map(|a| Arena::new_unchecked(a.len())).collect();
        let mut fresh = H::empty();
        for c in &self.claims {
            // SAFETY: `fresh` is dropped at the end of this function, before `twins` (declared
            // earlier, dropped later); the twins are never refilled.
            let region = unsafe { twins[c.arena].region(c.offset, c.len) };
            let Ok(region) = region else { self.fail("E3: replayed region refused") };
            let replay = fresh.claim(region);
            if replay.is_err() || (!c.touches && replay != Ok(c.usable)) {
                self.fail(&format!(
                    "E3: replaying the claim of {} bytes on a fresh heap gave {replay:?}, the \
                     first time {} usable",
                    c.len, c.usable
                ));
            }
        }
        let free = fresh.free_bytes();
        let upper = self.claims.iter().map(|c| c.len).sum();
        (capacity_profile(&mut fresh, upper), free)
    }

    /// Drains, checks the heap is pristine and the guards intact, and returns the counters.
    pub fn finish(mut self) -> Stats {
        self.drain();
        self.assert_pristine();
        self.check_guards();
        self.stats.bytes_checked = self.shadow.bytes_checked;
        self.stats.clone()
    }
}

/// The sizes of the largest allocations (alignment 1) a heap can make one after another, until
/// not even one byte fits (at most 64): a fingerprint of its free space. Each size is found by
/// binary search between 1 and `upper` (the bytes it was given); everything is freed again.
///
/// A heap whose free memory is one coalesced block per region gives one size per region.
pub fn capacity_profile<H: Heap + ?Sized>(heap: &mut H, upper: usize) -> Vec<usize> {
    fn fits<H: Heap + ?Sized>(heap: &mut H, size: usize) -> bool {
        let Ok(layout) = Layout::from_size_align(size, 1) else { return false };
        match heap.allocate(layout) {
            Some(p) => {
                // SAFETY: `p` was just allocated with `layout`.
                unsafe { heap.deallocate(p, layout) };
                true
            }
            None => false,
        }
    }
    let mut taken: Vec<(NonNull<u8>, Layout)> = Vec::new();
    while taken.len() < 64 && fits(heap, 1) {
        // `lo` fits; `hi` is assumed not to (more than the heap was given).
        let (mut lo, mut hi) = (1usize, upper.saturating_add(1));
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(heap, mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let layout = Layout::from_size_align(lo, 1).expect("lo <= isize::MAX");
        let Some(p) = heap.allocate(layout) else {
            panic!(
                "E3: not pristine: {lo} bytes fitted a moment ago and now do not (a free was lost)"
            );
        };
        taken.push((p, layout));
    }
    let sizes = taken.iter().map(|t| t.1.size()).collect();
    for (p, layout) in taken.into_iter().rev() {
        // SAFETY: allocated above with `layout`, freed once.
        unsafe { heap.deallocate(p, layout) };
    }
    sizes
}

/// Runs `ops` against `heap` (which has no memory yet) given `regions`, then drains it and
/// checks it is pristine and wrote nothing outside its regions.
///
/// ```
/// use bareheap_testkit::{program, run, Config, RefHeap, RegionSpec};
/// let stats = run(RefHeap::new(), program(42, 2_000), &[RegionSpec::new(1 << 16)], Config::default());
/// assert_eq!(stats.ops, 2_000);
/// ```
pub fn run<H: TestHeap>(
    heap: H,
    ops: impl IntoIterator<Item = Op>,
    regions: &[RegionSpec],
    cfg: Config,
) -> Stats {
    let mut rig = Rig::with_regions(heap, regions, cfg);
    rig.run(ops);
    rig.finish()
}
