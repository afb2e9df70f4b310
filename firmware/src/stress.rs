//! The seeded random workload, run directly on the [`Heap`](bareheap::Heap) trait: allocate,
//! free, grow and shrink in random order with random sizes and alignments, every live block
//! filled with its own byte pattern and checked before it is freed or resized, and after a
//! resize for the bytes that must survive. Each returned pointer must be aligned and inside the
//! arena; `validate()` runs periodically; when the heap runs dry, everything is freed and the
//! whole capacity must be allocatable again.

use core::alloc::Layout;
use core::ptr::NonNull;

use bareheap::{HeapMemory, Region};

use crate::heaps::UnderTest;
use crate::rng::XorShift32;
use crate::runner::{self, Failed, Outcome, Test};
use crate::{board, ensure, hprintln, pattern};

/// How many blocks may be live at once.
pub const SLOTS: usize = 48;

/// The address range a heap was given; every block must lie inside it.
#[derive(Clone, Copy, Debug)]
pub struct Arena {
    start: usize,
    end: usize,
}

impl Arena {
    /// The range of `region` (take it before the region is claimed).
    pub fn of(region: &Region) -> Self {
        Arena { start: region.base().as_ptr().addr(), end: region.end_addr() }
    }

    /// The first address.
    pub fn start(&self) -> usize {
        self.start
    }

    /// One past the last address.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Whether `[ptr, ptr + size)` lies inside the arena.
    pub fn holds(&self, ptr: NonNull<u8>, size: usize) -> bool {
        let start = ptr.as_ptr().addr();
        match start.checked_add(size) {
            Some(end) => start >= self.start && end <= self.end,
            None => false,
        }
    }
}

/// A heap under test with what the checks need to know about it.
pub struct Subject<H> {
    /// The heap.
    pub heap: H,
    /// Where its memory is.
    pub arena: Arena,
    /// What `claim` returned.
    pub capacity: usize,
}

impl<H: UnderTest> Subject<H> {
    /// Gives `region` to `heap`.
    ///
    /// # Panics
    ///
    /// If the heap refuses the region (the test cannot start).
    pub fn new(mut heap: H, region: Region) -> Self {
        let arena = Arena::of(&region);
        let capacity = match heap.claim(region) {
            Ok(n) => n,
            Err(e) => panic!("{} refused its region: {}", H::NAME, e),
        };
        hprintln!(
            "{}: arena {:#010x}..{:#010x} ({} bytes), capacity {} bytes",
            H::NAME,
            arena.start,
            arena.end,
            arena.end - arena.start,
            capacity
        );
        Subject { heap, arena, capacity }
    }
}

/// The shape of one random run.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Seeds the operation sequence.
    pub seed: u32,
    /// Number of operations.
    pub ops: u32,
    /// Largest block size requested (sizes are log-uniform: mostly small).
    pub max_size: u32,
    /// Largest alignment requested (a power of two; most requests use 1..=8).
    pub max_align: u32,
    /// Blocks live at once, at most [`SLOTS`].
    pub slots: usize,
    /// `validate()` runs every this many operations.
    pub validate_every: u32,
    /// Every live block's pattern is checked every this many operations.
    pub sweep_every: u32,
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Successful allocations.
    pub allocs: u32,
    /// Allocations that returned `None`.
    pub alloc_nulls: u32,
    /// Blocks freed.
    pub frees: u32,
    /// Successful grows.
    pub grows: u32,
    /// Grows that returned `None` (the block stayed valid).
    pub grow_nulls: u32,
    /// Successful shrinks.
    pub shrinks: u32,
    /// Shrinks that returned `None` (the block stayed valid).
    pub shrink_nulls: u32,
    /// Times the heap ran dry and was emptied completely.
    pub drains: u32,
    /// `validate()` calls (all returned `Ok`).
    pub validations: u32,
    /// Bytes compared against their pattern.
    pub bytes_checked: u64,
}

impl Stats {
    /// Operations performed (successful or not).
    pub fn ops(&self) -> u32 {
        self.allocs
            + self.alloc_nulls
            + self.frees
            + self.grows
            + self.grow_nulls
            + self.shrinks
            + self.shrink_nulls
    }

    fn print(&self) {
        hprintln!(
            "    {} allocs ({} null), {} frees, {} grows ({} null), {} shrinks ({} null); \
             {} drains, {} validations, {} KiB checked",
            self.allocs,
            self.alloc_nulls,
            self.frees,
            self.grows,
            self.grow_nulls,
            self.shrinks,
            self.shrink_nulls,
            self.drains,
            self.validations,
            self.bytes_checked / 1024
        );
    }
}

#[derive(Clone, Copy)]
struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    tag: u32,
    /// Allocation order, for freeing in reverse (a bump heap reclaims the last block only).
    seq: u32,
}

struct Run<'a, H> {
    subject: &'a mut Subject<H>,
    cfg: Config,
    rng: XorShift32,
    slots: [Option<Live>; SLOTS],
    next_tag: u32,
    stats: Stats,
    op: u32,
}

/// Runs the random sequence `cfg` on `subject`, prints what it did, and leaves the heap empty.
///
/// # Errors
///
/// [`Failed`] at the first wrong result; the details were printed.
pub fn run<H: UnderTest>(subject: &mut Subject<H>, cfg: Config) -> Result<Stats, Failed> {
    let mut run = Run {
        subject,
        cfg: Config { slots: cfg.slots.clamp(1, SLOTS), ..cfg },
        rng: XorShift32::new(cfg.seed),
        slots: [None; SLOTS],
        next_tag: cfg.seed,
        stats: Stats::default(),
        op: 0,
    };
    let result = run.steps();
    if result.is_ok() {
        run.drain()?;
    }
    hprintln!("    seed {:#010x}: {} operations", cfg.seed, run.stats.ops());
    run.stats.print();
    result.map(|()| run.stats)
}

impl<H: UnderTest> Run<'_, H> {
    fn steps(&mut self) -> Outcome {
        let mut nulls_in_a_row = 0u32;
        for op in 0..self.cfg.ops {
            self.op = op;
            let i = self.rng.below(self.cfg.slots as u32) as usize;
            match self.slots.get_mut(i).and_then(Option::take) {
                None => {
                    if self.allocate(i)? {
                        nulls_in_a_row = 0;
                    } else {
                        nulls_in_a_row += 1;
                    }
                }
                Some(block) => match self.rng.below(4) {
                    0 | 1 => self.free(block)?,
                    2 => self.grow(i, block)?,
                    _ => self.shrink(i, block)?,
                },
            }
            if nulls_in_a_row >= 3 {
                // The heap ran dry (or is too fragmented for these sizes): empty it completely,
                // which also checks that it recovers all of its capacity.
                nulls_in_a_row = 0;
                self.drain()?;
            }
            if op.is_multiple_of(self.cfg.validate_every) {
                self.validate()?;
            }
            if op.is_multiple_of(self.cfg.sweep_every) {
                self.sweep()?;
            }
        }
        Ok(())
    }

    fn random_layout(&mut self) -> Layout {
        let max_bits = 32 - self.cfg.max_size.max(1).leading_zeros();
        let bits = self.rng.below(max_bits + 1);
        let size = self.rng.below((1u32 << bits).min(self.cfg.max_size) + 1);
        let max_align_log = 31 - self.cfg.max_align.max(1).leading_zeros();
        let align_log = if self.rng.chance(80) {
            self.rng.below(max_align_log.min(3) + 1)
        } else {
            self.rng.below(max_align_log + 1)
        };
        // Both values are small (size <= max_size, align a power of two <= max_align).
        Layout::from_size_align(size as usize, 1usize << align_log).unwrap_or(Layout::new::<u8>())
    }

    /// A new block in slot `i`; `false` if the heap returned `None`.
    fn allocate(&mut self, i: usize) -> Result<bool, Failed> {
        let layout = self.random_layout();
        let Some(ptr) = self.subject.heap.allocate(layout) else {
            self.stats.alloc_nulls += 1;
            return Ok(false);
        };
        self.check_placement("allocate", ptr, layout)?;
        let tag = self.new_tag();
        // SAFETY: the heap returned `ptr` for `layout`: valid for `layout.size()` bytes.
        unsafe { pattern::fill(ptr, layout.size(), tag) };
        let seq = self.stats.allocs;
        self.stats.allocs += 1;
        self.slots[i] = Some(Live { ptr, layout, tag, seq });
        Ok(true)
    }

    fn free(&mut self, block: Live) -> Outcome {
        self.check_block("free", &block)?;
        // SAFETY: `block` is currently allocated from this heap with `block.layout` (it was
        // taken out of its slot, so it is freed once).
        unsafe { self.subject.heap.deallocate(block.ptr, block.layout) };
        self.stats.frees += 1;
        Ok(())
    }

    fn grow(&mut self, i: usize, block: Live) -> Outcome {
        self.check_block("grow (before)", &block)?;
        let old = block.layout.size() as u32;
        let new_size = old.saturating_add(self.rng.between(1, old.max(16))).min(self.cfg.max_size);
        self.resize(i, block, new_size.max(old) as usize)
    }

    fn shrink(&mut self, i: usize, block: Live) -> Outcome {
        self.check_block("shrink (before)", &block)?;
        let new_size = self.rng.below(block.layout.size() as u32 + 1) as usize;
        self.resize(i, block, new_size)
    }

    fn resize(&mut self, i: usize, block: Live, new_size: usize) -> Outcome {
        let old = block.layout;
        let Ok(new_layout) = Layout::from_size_align(new_size, old.align()) else {
            self.slots[i] = Some(block);
            return Ok(());
        };
        let growing = new_size >= old.size();
        let result = if growing {
            // SAFETY: `block` is currently allocated with `old`, and `new_size >= old.size()`.
            unsafe { self.subject.heap.grow(block.ptr, old, new_size) }
        } else {
            // SAFETY: `block` is currently allocated with `old`, and `new_size < old.size()`.
            unsafe { self.subject.heap.shrink(block.ptr, old, new_size) }
        };
        let what = if growing { "grow" } else { "shrink" };
        let Some(ptr) = result else {
            if growing {
                self.stats.grow_nulls += 1;
            } else {
                self.stats.shrink_nulls += 1;
            }
            // A failed resize leaves the old block allocated and untouched.
            self.check_block("failed resize", &block)?;
            self.slots[i] = Some(block);
            return Ok(());
        };
        self.check_placement(what, ptr, new_layout)?;
        let kept = Live { ptr, layout: new_layout, ..block };
        // The bytes both layouts share must have survived the resize (in place or moved).
        self.check_bytes(what, &kept, old.size().min(new_size))?;
        let tag = self.new_tag();
        // SAFETY: the heap returned `ptr` for `new_layout`: valid for `new_size` bytes.
        unsafe { pattern::fill(ptr, new_size, tag) };
        if growing {
            self.stats.grows += 1;
        } else {
            self.stats.shrinks += 1;
        }
        self.slots[i] = Some(Live { tag, ..kept });
        Ok(())
    }

    /// Frees every live block, newest first, then requires the whole capacity back.
    fn drain(&mut self) -> Outcome {
        while let Some(i) = self.newest() {
            if let Some(block) = self.slots[i].take() {
                self.free(block)?;
            }
        }
        // SAFETY: every block of this run was freed above and is never used again.
        unsafe { self.subject.heap.drained() };
        self.validate()?;
        let want = self.subject.capacity.saturating_sub(H::ONE_BLOCK_SLACK).max(1);
        let Ok(layout) = Layout::from_size_align(want, 8) else { return Err(Failed) };
        let Some(ptr) = self.subject.heap.allocate(layout) else {
            ensure!(
                false,
                "op {}: {} bytes of a {} byte capacity not allocatable after freeing everything",
                self.op,
                want,
                self.subject.capacity
            );
            return Err(Failed);
        };
        self.check_placement("allocate (whole heap)", ptr, layout)?;
        // SAFETY: just allocated with `layout`, freed once.
        unsafe { self.subject.heap.deallocate(ptr, layout) };
        // SAFETY: the one block was freed above and is never used again.
        unsafe { self.subject.heap.drained() };
        self.stats.drains += 1;
        self.validate()
    }

    fn newest(&self) -> Option<usize> {
        let live = self.slots.iter().enumerate();
        live.filter_map(|(i, s)| s.map(|b| (i, b.seq))).max_by_key(|&(_, seq)| seq).map(|(i, _)| i)
    }

    fn validate(&mut self) -> Outcome {
        self.stats.validations += 1;
        let result = self.subject.heap.validate();
        ensure!(result.is_ok(), "op {}: validate(): {:?}", self.op, result);
        Ok(())
    }

    fn sweep(&mut self) -> Outcome {
        for i in 0..SLOTS {
            if let Some(block) = self.slots[i] {
                self.check_block("sweep", &block)?;
            }
        }
        Ok(())
    }

    fn check_block(&mut self, what: &str, block: &Live) -> Outcome {
        self.check_bytes(what, block, block.layout.size())
    }

    fn check_bytes(&mut self, what: &str, block: &Live, len: usize) -> Outcome {
        self.stats.bytes_checked += len as u64;
        // SAFETY: `block` is currently allocated for at least `len` bytes, all written by `fill`.
        let result = unsafe { pattern::check(block.ptr, len, block.tag) };
        if let Err(at) = result {
            ensure!(
                false,
                "op {} ({}): block {:p} ({} bytes, align {}) corrupt at offset {}",
                self.op,
                what,
                block.ptr,
                block.layout.size(),
                block.layout.align(),
                at
            );
        }
        Ok(())
    }

    fn check_placement(&self, what: &str, ptr: NonNull<u8>, layout: Layout) -> Outcome {
        ensure!(
            ptr.as_ptr().addr().is_multiple_of(layout.align()),
            "op {} ({}): {:p} is not aligned to {}",
            self.op,
            what,
            ptr,
            layout.align()
        );
        ensure!(
            self.subject.arena.holds(ptr, layout.size()),
            "op {} ({}): {:p}+{} is outside the arena {:?}",
            self.op,
            what,
            ptr,
            layout.size(),
            self.subject.arena
        );
        Ok(())
    }

    fn new_tag(&mut self) -> u32 {
        self.next_tag = self.next_tag.wrapping_add(1);
        self.next_tag
    }
}

/// The stress program: claims `memory` for `heap` and runs [`tests`]; exits with the verdict.
pub fn main<H: UnderTest, const N: usize>(
    suite: &str,
    heap: H,
    memory: &'static HeapMemory<N>,
) -> ! {
    let region = memory.take().expect("the heap memory is taken once, here");
    let mut subject = Subject::new(heap, region);
    runner::run(suite, &mut subject, &tests::<H>())
}

/// The random runs every heap goes through, on one heap one after the other (each leaves it
/// empty).
pub fn tests<H: UnderTest>() -> [Test<Subject<H>>; 3] {
    [
        Test {
            name: "random_ops_mixed_sizes_contents_preserved",
            run: random_ops_mixed_sizes_contents_preserved::<H>,
        },
        Test {
            name: "random_ops_small_blocks_contents_preserved",
            run: random_ops_small_blocks_contents_preserved::<H>,
        },
        Test {
            name: "random_ops_large_aligned_blocks_contents_preserved",
            run: random_ops_large_aligned_blocks_contents_preserved::<H>,
        },
    ]
}

fn random_ops_mixed_sizes_contents_preserved<H: UnderTest>(s: &mut Subject<H>) -> Outcome {
    let cfg = Config {
        seed: 0x5EED_0001,
        ops: 50_000,
        max_size: 2048,
        max_align: 64,
        slots: SLOTS,
        validate_every: 64,
        sweep_every: 1024,
    };
    run(s, cfg).map(drop)
}

fn random_ops_small_blocks_contents_preserved<H: UnderTest>(s: &mut Subject<H>) -> Outcome {
    let cfg = Config {
        seed: 0x5EED_0002,
        ops: 50_000,
        max_size: 48,
        max_align: 8,
        slots: SLOTS,
        validate_every: 64,
        sweep_every: 1024,
    };
    run(s, cfg).map(drop)
}

fn random_ops_large_aligned_blocks_contents_preserved<H: UnderTest>(s: &mut Subject<H>) -> Outcome {
    let cfg = Config {
        seed: 0x5EED_0003,
        ops: 10_000,
        // Three quarters of the arena (12 KiB of 16): at most one such block fits.
        max_size: (board::ARENA * 3 / 4) as u32,
        max_align: 1024,
        slots: 6,
        validate_every: 16,
        sweep_every: 256,
    };
    run(s, cfg).map(drop)
}
