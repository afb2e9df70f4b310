//! Allocation from interrupt context: the board's timer (SysTick, or the RISC-V machine timer)
//! fires every [`PERIOD_US`] microseconds and its handler allocates, reallocates, frees, fills
//! and checks blocks through the global `Locked<CriticalSection, _>`, while `main` does the same
//! in a loop. The critical section
//! makes each heap call atomic with respect to the handler; the byte patterns prove that no
//! block was handed out twice or scribbled on by the heap's metadata.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::RefCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use critical_section::Mutex;

use crate::heaps::UnderTest;
use crate::oom::Global;
use crate::rng::XorShift32;
use crate::runner::{Failed, Outcome};
use crate::{ensure, hprintln, pattern, timer};

/// The timer period: 2000 cycles of the Cortex-M3 board's 12.5 MHz SysTick clock, so the
/// handler runs thousands of times while `main` works.
pub const PERIOD_US: u32 = 160;

/// Blocks the interrupt handler keeps alive between ticks.
const ISR_SLOTS: usize = 8;
/// Blocks `main` keeps alive.
const MAIN_SLOTS: usize = 24;

#[derive(Clone, Copy)]
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    tag: u32,
}

/// The interrupt handler's side of the test. Lives in a `static`; its handler calls [`tick`].
///
/// [`tick`]: IsrLoad::tick
pub struct IsrLoad {
    state: Mutex<RefCell<IsrState>>,
    /// Handler entries. Written by the handler only (a load and a store, no read-modify-write
    /// instruction needed), read by `main` to see that it was interrupted.
    ticks: AtomicU32,
}

/// What the handler did.
#[derive(Clone, Copy, Debug, Default)]
pub struct IsrCounts {
    /// Successful allocations in interrupt context.
    pub allocs: u32,
    /// Successful reallocations in interrupt context.
    pub reallocs: u32,
    /// Frees in interrupt context.
    pub frees: u32,
    /// Allocations or reallocations that returned null (heap full, not an error).
    pub nulls: u32,
    /// Blocks whose pattern was wrong (must stay 0).
    pub corruptions: u32,
}

struct IsrState {
    rng: XorShift32,
    slots: [Option<Block>; ISR_SLOTS],
    next_tag: u32,
    counts: IsrCounts,
}

// SAFETY: the blocks in `slots` are owned by whoever holds the state; the state is reached only
// through the critical-section `Mutex` in `IsrLoad`, so at most one context uses them at a time.
unsafe impl Send for IsrState {}

impl IsrLoad {
    /// An idle load whose random choices start from `seed`.
    pub const fn new(seed: u32) -> Self {
        IsrLoad {
            state: Mutex::new(RefCell::new(IsrState {
                rng: XorShift32::new(seed),
                slots: [None; ISR_SLOTS],
                // Interrupt blocks get tags from the top half so they never match main's.
                next_tag: 0x8000_0000,
                counts: IsrCounts { allocs: 0, reallocs: 0, frees: 0, nulls: 0, corruptions: 0 },
            })),
            ticks: AtomicU32::new(0),
        }
    }

    /// One step of the handler's work: free, reallocate or allocate a random block through
    /// `alloc`, checking the pattern of every block it touches. Call from the interrupt handler.
    pub fn tick<A: GlobalAlloc>(&self, alloc: &A) {
        self.ticks.store(self.ticks.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        critical_section::with(|cs| {
            if let Ok(mut state) = self.state.borrow(cs).try_borrow_mut() {
                state.step(alloc);
            }
        });
    }

    /// Handler entries so far.
    pub fn ticks(&self) -> u32 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// What the handler did so far.
    pub fn counts(&self) -> IsrCounts {
        critical_section::with(|cs| self.state.borrow(cs).borrow().counts)
    }

    /// Checks and frees the handler's remaining blocks. Call with the interrupt disabled.
    pub fn release_all<A: GlobalAlloc>(&self, alloc: &A) -> IsrCounts {
        critical_section::with(|cs| {
            let mut state = self.state.borrow(cs).borrow_mut();
            for i in 0..ISR_SLOTS {
                if let Some(block) = state.slots[i].take() {
                    state.check(&block, block.layout.size());
                    // SAFETY: `block` was allocated by `alloc` with `block.layout`; the slot
                    // was emptied, so it is freed once.
                    unsafe { alloc.dealloc(block.ptr.as_ptr(), block.layout) };
                    state.counts.frees += 1;
                }
            }
            state.counts
        })
    }
}

impl IsrState {
    fn step<A: GlobalAlloc>(&mut self, alloc: &A) {
        let k = self.rng.below(ISR_SLOTS as u32) as usize;
        match self.slots[k].take() {
            None => {
                let align = self.rng.pick(&[1, 2, 4, 8, 16]);
                let size = self.rng.between(1, 128) as usize;
                let Ok(layout) = Layout::from_size_align(size, align) else { return };
                // SAFETY: `layout` has a non-zero size.
                let Some(ptr) = NonNull::new(unsafe { alloc.alloc(layout) }) else {
                    self.counts.nulls += 1;
                    return;
                };
                self.next_tag = self.next_tag.wrapping_add(1);
                let block = Block { ptr, layout, tag: self.next_tag };
                // SAFETY: the allocator returned `ptr` for `layout`.
                unsafe { pattern::fill(ptr, size, block.tag) };
                self.counts.allocs += 1;
                self.slots[k] = Some(block);
            }
            Some(block) => {
                self.check(&block, block.layout.size());
                if self.rng.chance(30) {
                    let new_size = self.rng.between(1, 192) as usize;
                    // SAFETY: `block` is allocated by `alloc` with `block.layout`; `new_size`
                    // is non-zero and far below `isize::MAX` after rounding to the alignment.
                    let new = unsafe { alloc.realloc(block.ptr.as_ptr(), block.layout, new_size) };
                    let Some(ptr) = NonNull::new(new) else {
                        // A failed realloc keeps the old block.
                        self.counts.nulls += 1;
                        self.slots[k] = Some(block);
                        return;
                    };
                    let Ok(layout) = Layout::from_size_align(new_size, block.layout.align()) else {
                        return;
                    };
                    let moved = Block { ptr, layout, tag: block.tag };
                    self.check(&moved, block.layout.size().min(new_size));
                    self.next_tag = self.next_tag.wrapping_add(1);
                    // SAFETY: the allocator returned `ptr` for `new_size` bytes.
                    unsafe { pattern::fill(ptr, new_size, self.next_tag) };
                    self.counts.reallocs += 1;
                    self.slots[k] = Some(Block { tag: self.next_tag, ..moved });
                } else {
                    // SAFETY: allocated by `alloc` with `block.layout`, taken out of its slot.
                    unsafe { alloc.dealloc(block.ptr.as_ptr(), block.layout) };
                    self.counts.frees += 1;
                }
            }
        }
    }

    fn check(&mut self, block: &Block, len: usize) {
        // SAFETY: `block` is allocated for at least `len` bytes, all filled with its pattern.
        if unsafe { pattern::check(block.ptr, len, block.tag) }.is_err() {
            self.counts.corruptions += 1;
        }
    }
}

/// How long `main` keeps going, and what it must see.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Seeds main's choices.
    pub seed: u32,
    /// Main stops once the handler made this many allocations (and main `min_main_ops`).
    pub isr_allocs: u32,
    /// Fewer handler allocations than this fail the test.
    pub isr_allocs_required: u32,
    /// Main runs at least this many operations.
    pub min_main_ops: u32,
    /// Main gives up after this many operations.
    pub max_main_ops: u32,
}

/// What `main` did.
#[derive(Clone, Copy, Debug, Default)]
pub struct MainCounts {
    /// Operations performed.
    pub ops: u32,
    /// Successful allocations.
    pub allocs: u32,
    /// Successful reallocations.
    pub reallocs: u32,
    /// Frees.
    pub frees: u32,
    /// Allocations or reallocations that returned null.
    pub nulls: u32,
    /// Main's operations during which the handler ran at least once.
    pub interrupted: u32,
    /// `validate()` calls (all clean).
    pub validations: u32,
}

/// Runs `main`'s side on the global heap `g` while the timer interrupt calls `tick` (which
/// must call `load.tick(..)` on `g`'s heap), then stops the timer, frees everything, and
/// checks the counts, the patterns and the heap.
///
/// # Errors
///
/// [`Failed`] on any corruption, a dirty `validate()`, or too few interrupt-context
/// allocations (all printed).
pub fn run<H: UnderTest + Send>(g: &Global<H>, load: &IsrLoad, tick: fn(), cfg: Config) -> Outcome {
    let mut rng = XorShift32::new(cfg.seed);
    let mut slots: [Option<Block>; MAIN_SLOTS] = [None; MAIN_SLOTS];
    let mut main = MainCounts::default();
    let mut corrupt = 0u32;
    let mut next_tag = 1u32;
    timer::start(PERIOD_US, tick);
    let outcome = loop {
        if main.ops >= cfg.max_main_ops {
            break Ok(());
        }
        if main.ops >= cfg.min_main_ops
            && main.ops.is_multiple_of(64)
            && load.counts().allocs >= cfg.isr_allocs
        {
            break Ok(());
        }
        main.ops += 1;
        let before = load.ticks();
        let k = rng.below(MAIN_SLOTS as u32) as usize;
        match slots[k].take() {
            None => {
                let align = rng.pick(&[1, 4, 8, 16, 32]);
                let size = rng.between(1, 512) as usize;
                let Ok(layout) = Layout::from_size_align(size, align) else { continue };
                // SAFETY: non-zero size.
                match NonNull::new(unsafe { g.heap.alloc(layout) }) {
                    None => main.nulls += 1,
                    Some(ptr) => {
                        ensure!(g.arena.holds(ptr, size), "{:p}+{} outside the arena", ptr, size);
                        ensure!(ptr.as_ptr().addr().is_multiple_of(align), "{:p} misaligned", ptr);
                        next_tag = next_tag.wrapping_add(1) & 0x7FFF_FFFF;
                        // SAFETY: allocated for `size` bytes.
                        unsafe { pattern::fill(ptr, size, next_tag) };
                        main.allocs += 1;
                        slots[k] = Some(Block { ptr, layout, tag: next_tag });
                    }
                }
            }
            Some(block) => {
                // SAFETY: `block` is allocated for its size and filled with its pattern.
                if unsafe { pattern::check(block.ptr, block.layout.size(), block.tag) }.is_err() {
                    corrupt += 1;
                }
                if rng.chance(40) {
                    let new_size = rng.between(1, 768) as usize;
                    // SAFETY: allocated with `block.layout`; `new_size` is small and non-zero.
                    let new = unsafe { g.heap.realloc(block.ptr.as_ptr(), block.layout, new_size) };
                    match NonNull::new(new) {
                        None => {
                            main.nulls += 1;
                            slots[k] = Some(block);
                        }
                        Some(ptr) => {
                            let keep = block.layout.size().min(new_size);
                            // SAFETY: the first `keep` bytes moved with the block.
                            if unsafe { pattern::check(ptr, keep, block.tag) }.is_err() {
                                corrupt += 1;
                            }
                            let Ok(layout) =
                                Layout::from_size_align(new_size, block.layout.align())
                            else {
                                break Err(Failed);
                            };
                            next_tag = next_tag.wrapping_add(1) & 0x7FFF_FFFF;
                            // SAFETY: reallocated for `new_size` bytes.
                            unsafe { pattern::fill(ptr, new_size, next_tag) };
                            main.reallocs += 1;
                            slots[k] = Some(Block { ptr, layout, tag: next_tag });
                        }
                    }
                } else {
                    // SAFETY: allocated with `block.layout`, taken out of its slot.
                    unsafe { g.heap.dealloc(block.ptr.as_ptr(), block.layout) };
                    main.frees += 1;
                }
            }
        }
        if load.ticks() != before {
            main.interrupted += 1;
        }
        if main.ops.is_multiple_of(1024) {
            main.validations += 1;
            if g.validate().is_err() {
                break Err(Failed);
            }
        }
    };
    timer::stop();
    let isr = load.release_all(g.heap);
    for block in slots.iter_mut().filter_map(Option::take) {
        // SAFETY: allocated for its size and filled with its pattern.
        if unsafe { pattern::check(block.ptr, block.layout.size(), block.tag) }.is_err() {
            corrupt += 1;
        }
        // SAFETY: allocated with `block.layout`, taken out of its slot.
        unsafe { g.heap.dealloc(block.ptr.as_ptr(), block.layout) };
        main.frees += 1;
    }
    hprintln!(
        "    timer: {} interrupts; in interrupt context {} allocations, {} reallocations, \
         {} frees, {} null",
        load.ticks(),
        isr.allocs,
        isr.reallocs,
        isr.frees,
        isr.nulls
    );
    hprintln!(
        "    main: {} operations: {} allocations, {} reallocations, {} frees, {} null; \
         {} of them interrupted by the timer; {} validations",
        main.ops,
        main.allocs,
        main.reallocs,
        main.frees,
        main.nulls,
        main.interrupted,
        main.validations
    );
    hprintln!(
        "    corrupted blocks: {} in interrupt context, {} in main",
        isr.corruptions,
        corrupt
    );
    outcome?;
    ensure!(isr.corruptions == 0 && corrupt == 0, "blocks were corrupted");
    ensure!(
        isr.allocs >= cfg.isr_allocs_required,
        "only {} interrupt-context allocations (at least {} required)",
        isr.allocs,
        cfg.isr_allocs_required
    );
    ensure!(main.interrupted > 0, "main was never interrupted");
    // SAFETY: the timer is stopped and every block of both sides was freed above.
    g.heap.lock(|h| unsafe { h.drained() });
    g.validate()?;
    let want = g.capacity.saturating_sub(H::ONE_BLOCK_SLACK).max(1);
    let Ok(whole) = Layout::from_size_align(want, 8) else { return Err(Failed) };
    // SAFETY: non-zero size.
    let ptr = unsafe { g.heap.alloc(whole) };
    ensure!(!ptr.is_null(), "{} bytes not allocatable after freeing everything", want);
    // SAFETY: just allocated with `whole`.
    unsafe { g.heap.dealloc(ptr, whole) };
    g.validate()
}

/// The interrupt handler's side of the lock-free bump test: each tick allocates one to three
/// blocks through a lock-free allocator (one that is itself `GlobalAlloc`, like
/// [`AtomicBump`](bareheap::AtomicBump)), checks them and frees them newest first, so a
/// last-block-reclaiming allocator must end the tick exactly where it started. Every 256th
/// tick keeps its last block instead, so that `main`'s in-flight compare-and-swap loses a race.
///
/// Blocks are padding-free (sizes multiples of 8, alignments up to 8): a bump allocator that
/// reclaims a block by moving `next` back to its start cannot give back padding that an earlier
/// block's alignment inserted, so with padding the exact reclaim check would not hold.
pub struct LifoLoad {
    state: Mutex<RefCell<LifoState>>,
    ticks: AtomicU32,
    /// Ticks that kept a block; written by the handler only.
    kept: AtomicU32,
}

struct LifoState {
    rng: XorShift32,
    next_tag: u32,
    counts: LifoCounts,
}

/// What the lock-free handler did.
#[derive(Clone, Copy, Debug, Default)]
pub struct LifoCounts {
    /// Successful allocations in interrupt context.
    pub allocs: u32,
    /// Allocations that returned null.
    pub nulls: u32,
    /// Blocks whose pattern was wrong (must stay 0).
    pub corruptions: u32,
    /// Ticks whose newest-first frees did not bring `used()` back (must stay 0).
    pub unreclaimed: u32,
}

impl LifoLoad {
    /// An idle load whose random choices start from `seed`.
    pub const fn new(seed: u32) -> Self {
        LifoLoad {
            state: Mutex::new(RefCell::new(LifoState {
                rng: XorShift32::new(seed),
                next_tag: 0x8000_0000,
                counts: LifoCounts { allocs: 0, nulls: 0, corruptions: 0, unreclaimed: 0 },
            })),
            ticks: AtomicU32::new(0),
            kept: AtomicU32::new(0),
        }
    }

    /// One tick of the handler's work on `alloc`, whose bytes in use `used` reports.
    pub fn tick<A: GlobalAlloc>(&self, alloc: &A, used: impl Fn() -> usize) {
        let tick = self.ticks.load(Ordering::Relaxed).wrapping_add(1);
        self.ticks.store(tick, Ordering::Relaxed);
        let keep_last = tick.is_multiple_of(256);
        critical_section::with(|cs| {
            let Ok(mut state) = self.state.borrow(cs).try_borrow_mut() else { return };
            let before = used();
            let mut blocks: [Option<Block>; 3] = [None; 3];
            let n = state.rng.between(1, 3) as usize;
            for slot in blocks.iter_mut().take(n) {
                // Sizes are multiples of 8 and alignments at most 8, so no block is preceded
                // by padding: freeing newest first must then reclaim everything exactly.
                let align = state.rng.pick(&[1, 2, 4, 8]);
                let size = 8 * state.rng.between(1, 8) as usize;
                let Ok(layout) = Layout::from_size_align(size, align) else { continue };
                // SAFETY: non-zero size.
                let Some(ptr) = NonNull::new(unsafe { alloc.alloc(layout) }) else {
                    state.counts.nulls += 1;
                    continue;
                };
                state.next_tag = state.next_tag.wrapping_add(1);
                // SAFETY: allocated for `size` bytes.
                unsafe { pattern::fill(ptr, size, state.next_tag) };
                state.counts.allocs += 1;
                *slot = Some(Block { ptr, layout, tag: state.next_tag });
            }
            let mut kept = false;
            for block in blocks.iter().rev().flatten() {
                // SAFETY: allocated for its size and filled with its pattern.
                if unsafe { pattern::check(block.ptr, block.layout.size(), block.tag) }.is_err() {
                    state.counts.corruptions += 1;
                }
                if keep_last && !kept {
                    kept = true; // leaked on purpose: the newest block stays allocated
                    continue;
                }
                // SAFETY: allocated by `alloc` with `block.layout`, freed once.
                unsafe { alloc.dealloc(block.ptr.as_ptr(), block.layout) };
            }
            if kept {
                self.kept.store(self.kept.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            } else if used() != before {
                state.counts.unreclaimed += 1;
            }
        });
    }

    /// Handler entries so far.
    pub fn ticks(&self) -> u32 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Ticks that kept a block on purpose.
    pub fn kept(&self) -> u32 {
        self.kept.load(Ordering::Relaxed)
    }

    /// What the handler did so far.
    pub fn counts(&self) -> LifoCounts {
        critical_section::with(|cs| self.state.borrow(cs).borrow().counts)
    }
}

/// Runs `main`'s side of the lock-free bump test: stacks of up to four blocks allocated,
/// checked and freed newest first through `alloc`, while the timer runs `load`. Whenever no tick
/// kept a block in between, `used()` must be back where it was.
///
/// # Errors
///
/// [`Failed`] on corruption, a missed reclaim, a dirty `validate`, or too few interrupt-context
/// allocations (all printed).
pub fn run_lifo<A: GlobalAlloc>(
    alloc: &A,
    used: impl Fn() -> usize,
    validate: impl Fn() -> Result<(), bareheap::Corruption>,
    load: &LifoLoad,
    tick: fn(),
    cfg: Config,
) -> Outcome {
    let mut rng = XorShift32::new(cfg.seed);
    let mut main = MainCounts::default();
    let (mut corrupt, mut unreclaimed, mut next_tag) = (0u32, 0u32, 1u32);
    timer::start(PERIOD_US, tick);
    while main.ops < cfg.max_main_ops
        && (main.ops < cfg.min_main_ops || load.counts().allocs < cfg.isr_allocs)
    {
        main.ops += 1;
        let (ticks, kept, before) = (load.ticks(), load.kept(), used());
        let mut blocks: [Option<Block>; 4] = [None; 4];
        let n = rng.between(1, 4) as usize;
        for slot in blocks.iter_mut().take(n) {
            // As in the handler: no padding, so the reclaim can be checked exactly.
            let align = rng.pick(&[1, 2, 4, 8]);
            let size = 8 * rng.between(1, 16) as usize;
            let Ok(layout) = Layout::from_size_align(size, align) else { continue };
            // SAFETY: non-zero size.
            let Some(ptr) = NonNull::new(unsafe { alloc.alloc(layout) }) else {
                main.nulls += 1;
                continue;
            };
            next_tag = next_tag.wrapping_add(1) & 0x7FFF_FFFF;
            // SAFETY: allocated for `size` bytes.
            unsafe { pattern::fill(ptr, size, next_tag) };
            main.allocs += 1;
            *slot = Some(Block { ptr, layout, tag: next_tag });
        }
        for block in blocks.iter().rev().flatten() {
            // SAFETY: allocated for its size and filled with its pattern.
            if unsafe { pattern::check(block.ptr, block.layout.size(), block.tag) }.is_err() {
                corrupt += 1;
            }
            // SAFETY: allocated by `alloc` with `block.layout`, freed once.
            unsafe { alloc.dealloc(block.ptr.as_ptr(), block.layout) };
            main.frees += 1;
        }
        // `used()` before `kept()`: a keeping tick between the two reads is then seen.
        let after = used();
        if load.kept() == kept && after != before {
            unreclaimed += 1;
        }
        if load.ticks() != ticks {
            main.interrupted += 1;
        }
        if main.ops.is_multiple_of(1024) {
            main.validations += 1;
            let result = validate();
            ensure!(result.is_ok(), "validate(): {:?}", result);
        }
    }
    timer::stop();
    let isr = load.counts();
    hprintln!(
        "    timer: {} interrupts; in interrupt context {} allocations (all freed newest \
         first except {} kept on purpose), {} null",
        load.ticks(),
        isr.allocs,
        load.kept(),
        isr.nulls
    );
    hprintln!(
        "    main: {} rounds: {} allocations, {} frees, {} null; {} rounds interrupted by \
         the timer; {} validations; {} bytes in use at the end",
        main.ops,
        main.allocs,
        main.frees,
        main.nulls,
        main.interrupted,
        main.validations,
        used()
    );
    hprintln!(
        "    corrupted blocks: {} in interrupt context, {} in main; missed reclaims: {} in \
         interrupt context, {} in main",
        isr.corruptions,
        corrupt,
        isr.unreclaimed,
        unreclaimed
    );
    ensure!(isr.corruptions == 0 && corrupt == 0, "blocks were corrupted");
    ensure!(isr.unreclaimed == 0 && unreclaimed == 0, "newest-first frees were not reclaimed");
    ensure!(
        isr.allocs >= cfg.isr_allocs_required,
        "only {} interrupt-context allocations (at least {} required)",
        isr.allocs,
        cfg.isr_allocs_required
    );
    ensure!(main.interrupted > 0, "main was never interrupted");
    let result = validate();
    ensure!(result.is_ok(), "validate(): {:?}", result);
    Ok(())
}
