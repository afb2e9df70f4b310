//! The workloads: how each one drives a [`BenchHeap`] and what it measures.
//!
//! # Checking every block
//!
//! Every allocation is checked on return (non-null, aligned, inside the arena) and gets a pattern
//! written into it, which is checked again when the block is freed or reallocated. Any mismatch
//! ends the run as [`Outcome::Failed`]: a heap that corrupts memory is reported, never timed.
//!
//! Two strengths of pattern:
//! - **full** (the untimed verification pass that precedes every timed measurement, and the whole
//!   of the efficiency workload): every byte of every block;
//! - **sparse** (timed passes): the block id in its first and last 8 bytes (every byte below
//!   16 B). Two 8-byte stores and loads per operation keep the measurement about the heap, while
//!   still catching overlaps at block edges and clobbered headers.

use std::alloc::Layout;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::heaps::{Arena, BenchHeap, NamedAllocator};
use crate::timer::{self, Clock};
use crate::trace::{Event, Trace};
use crate::workload::{self, Op, Program, Rng};

/// What one allocator did on one job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Outcome<T> {
    /// Measured.
    Ok(T),
    /// An allocation failed at operation `at` of `of` (the expected end for a bump allocator).
    Oom {
        /// Index of the failing operation in the measured phase (or in the fill).
        at: u64,
        /// Operations in that phase.
        of: u64,
        /// "fill" or "steady" or "trace".
        phase: String,
    },
    /// Returned a bad block or corrupted memory, or panicked. Not timed.
    Failed(String),
    /// Could not be set up (e.g. its claim was refused), or the workload does not apply.
    Unavailable(String),
}

/// A live block and the id its pattern is derived from.
#[derive(Clone, Copy)]
struct Block {
    ptr: *mut u8,
    layout: Layout,
    id: u64,
}

const EMPTY: Block = Block { ptr: std::ptr::null_mut(), layout: Layout::new::<u8>(), id: 0 };

/// Why a run stopped early.
enum Stop {
    Oom,
    Bad(String),
}

/// Checks blocks against the arena and keeps the footprint high-water mark.
struct Checker {
    base: usize,
    end: usize,
    bounded: bool,
    next_id: u64,
    /// Highest end address of any block ever returned.
    max_end: usize,
    /// Lowest start address of any block ever returned.
    min_start: usize,
}

impl Checker {
    fn new(arena: &Arena, bounded: bool) -> Checker {
        let base = arena.base().addr();
        Checker {
            base,
            end: base + arena.len(),
            bounded,
            next_id: 1,
            max_end: base,
            min_start: usize::MAX,
        }
    }

    /// Checks a block just returned for `layout`.
    fn admit(&mut self, p: *mut u8, layout: Layout) -> Result<(), String> {
        let a = p.addr();
        if !a.is_multiple_of(layout.align()) {
            return Err(format!("block {a:#x} not aligned to {}", layout.align()));
        }
        if self.bounded && (a < self.base || a + layout.size() > self.end) {
            return Err(format!("block {a:#x}+{} outside the arena", layout.size()));
        }
        self.max_end = self.max_end.max(a + layout.size());
        self.min_start = self.min_start.min(a);
        Ok(())
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

fn pattern_byte(id: u64) -> u8 {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Writes the pattern of `id` into a block of `size` bytes.
///
/// # Safety
///
/// `p` is valid for writes of `size` bytes.
unsafe fn fill<const FULL: bool>(p: *mut u8, size: usize, id: u64) {
    if size < 16 {
        // SAFETY: caller contract.
        unsafe { p.write_bytes(pattern_byte(id), size) };
        return;
    }
    // SAFETY: `size >= 16`, so both 8-byte words lie inside the block.
    unsafe {
        p.cast::<u64>().write_unaligned(id);
        p.add(size - 8).cast::<u64>().write_unaligned(id);
    }
    if FULL {
        // SAFETY: `[8, size - 8)` lies inside the block.
        unsafe { p.add(8).write_bytes(pattern_byte(id), size - 16) };
    }
}

/// Checks the bytes `[0, keep)` of a block that was filled for `size` bytes with `id`.
///
/// # Safety
///
/// `p` is valid for reads of `keep` bytes and `keep <= size`.
unsafe fn check<const FULL: bool>(p: *const u8, size: usize, keep: usize, id: u64) -> bool {
    let b = pattern_byte(id);
    // SAFETY: caller contract: `[0, keep)` is readable.
    let bytes = unsafe { std::slice::from_raw_parts(p, keep) };
    if size < 16 {
        return bytes.iter().all(|&x| x == b);
    }
    let word = id.to_le_bytes();
    let head = keep.min(8);
    if bytes[..head] != word[..head] {
        return false;
    }
    if keep > size - 8 && bytes[size - 8..keep] != word[..keep - (size - 8)] {
        return false;
    }
    !FULL || bytes[8.min(keep)..keep.min(size - 8)].iter().all(|&x| x == b)
}

fn layout(size: u64, align_log2: u8) -> Layout {
    Layout::from_size_align(size as usize, 1 << align_log2).expect("workload layouts are valid")
}

/// Per-operation latency samples in ticks, by kind.
#[derive(Clone, Default)]
pub struct Samples {
    alloc: Vec<u64>,
    free: Vec<u64>,
    realloc: Vec<u64>,
}

impl Samples {
    /// Keeps, for each operation, the smaller of its sample here and in `other` (a run of the
    /// same operations).
    fn keep_min(&mut self, other: &Samples) {
        for (mine, theirs) in [
            (&mut self.alloc, &other.alloc),
            (&mut self.free, &other.free),
            (&mut self.realloc, &other.realloc),
        ] {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m = (*m).min(*t);
            }
        }
    }
}

/// Runs `ops` on `heap`, mirroring the live list. `FULL` selects the pattern strength, `TIMED`
/// records a latency sample per operation.
fn run_ops<const FULL: bool, const TIMED: bool>(
    heap: &mut dyn BenchHeap,
    ops: &[Op],
    live: &mut Vec<Block>,
    chk: &mut Checker,
    samples: &mut Samples,
) -> Result<(), (u64, Stop)> {
    for (i, op) in ops.iter().enumerate() {
        let i = i as u64;
        match *op {
            Op::Alloc { size, align_log2 } => {
                let l = layout(size.into(), align_log2);
                let t0 = if TIMED { timer::start() } else { 0 };
                let p = heap.alloc(l);
                if TIMED {
                    samples.alloc.push(timer::stop() - t0);
                }
                if p.is_null() {
                    return Err((i, Stop::Oom));
                }
                chk.admit(p, l).map_err(|e| (i, Stop::Bad(e)))?;
                let id = chk.id();
                // SAFETY: a fresh block of `l.size()` bytes.
                unsafe { fill::<FULL>(p, l.size(), id) };
                live.push(Block { ptr: p, layout: l, id });
            }
            Op::Free { idx } => {
                let b = live.swap_remove(idx as usize);
                // SAFETY: `b` is live with its layout.
                if !unsafe { check::<FULL>(b.ptr, b.layout.size(), b.layout.size(), b.id) } {
                    return Err((
                        i,
                        Stop::Bad(format!("block {:#x} corrupted before free", b.ptr.addr())),
                    ));
                }
                let t0 = if TIMED { timer::start() } else { 0 };
                // SAFETY: `b` is live, allocated by `heap` with `b.layout`.
                unsafe { heap.dealloc(b.ptr, b.layout) };
                if TIMED {
                    samples.free.push(timer::stop() - t0);
                }
            }
            Op::Realloc { idx, new_size } => {
                let b = live[idx as usize];
                let old = b.layout.size();
                let new = new_size as usize;
                // SAFETY: `b` is live with its layout.
                if !unsafe { check::<FULL>(b.ptr, old, old, b.id) } {
                    return Err((
                        i,
                        Stop::Bad(format!("block {:#x} corrupted before realloc", b.ptr.addr())),
                    ));
                }
                let t0 = if TIMED { timer::start() } else { 0 };
                // SAFETY: `b` is live, allocated by `heap` with `b.layout`; `new > 0`.
                let p = unsafe { heap.realloc(b.ptr, b.layout, new) };
                if TIMED {
                    samples.realloc.push(timer::stop() - t0);
                }
                if p.is_null() {
                    return Err((i, Stop::Oom));
                }
                let l = Layout::from_size_align(new, b.layout.align()).expect("valid layout");
                chk.admit(p, l).map_err(|e| (i, Stop::Bad(e)))?;
                // SAFETY: the new block holds `new` bytes, the first `min(old, new)` preserved.
                if !unsafe { check::<FULL>(p, old, old.min(new), b.id) } {
                    return Err((
                        i,
                        Stop::Bad(format!(
                            "realloc {:#x} -> {:#x} lost contents",
                            b.ptr.addr(),
                            p.addr()
                        )),
                    ));
                }
                // SAFETY: a live block of `new` bytes.
                unsafe { fill::<FULL>(p, new, b.id) };
                live[idx as usize] = Block { ptr: p, layout: l, id: b.id };
            }
        }
    }
    Ok(())
}

/// The steady phase of a timed pass: [`run_ops`] under a name of its own, never inlined, so
/// that callgrind can count the heap calls of exactly this phase (`--toggle-collect` on this
/// function; see `crate::instructions`): not the fill, the verification pass or the drain.
#[inline(never)]
fn timed_steady<const FULL: bool, const TIMED: bool>(
    heap: &mut dyn BenchHeap,
    ops: &[Op],
    live: &mut Vec<Block>,
    chk: &mut Checker,
    samples: &mut Samples,
) -> Result<(), (u64, Stop)> {
    run_ops::<FULL, TIMED>(heap, ops, live, chk, samples)
}

/// Frees every live block (checking each), untimed.
fn drain<const FULL: bool>(heap: &mut dyn BenchHeap, live: &mut Vec<Block>) -> Result<(), String> {
    while let Some(b) = live.pop() {
        // SAFETY: `b` is live with its layout.
        if !unsafe { check::<FULL>(b.ptr, b.layout.size(), b.layout.size(), b.id) } {
            return Err(format!("block {:#x} corrupted before the final free", b.ptr.addr()));
        }
        // SAFETY: `b` is live, allocated by `heap` with `b.layout`.
        unsafe { heap.dealloc(b.ptr, b.layout) };
    }
    Ok(())
}

/// Runs `f` catching panics (a peer that panics is reported as failed, not crashed).
fn guarded<T>(f: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(o) => o,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Outcome::Failed(format!("panicked: {msg}"))
        }
    }
}

/// One pass of a random-actions program: fill, then the steady ops; returns the steady-phase
/// time in seconds and the number of steady ops done (or how it stopped). The fill is checked
/// but never timed. With a `budget`, the steady phase stops at the first 1024-op boundary past
/// it (see [`throughput`]).
fn program_pass<const FULL: bool, const TIMED: bool>(
    alloc: &NamedAllocator,
    arena: &mut Arena,
    fill: &[Op],
    steady: &[Op],
    budget: Option<Duration>,
    samples: &mut Samples,
) -> Outcome<(f64, usize)> {
    let bounded = alloc.uses_arena;
    let mut chk = Checker::new(arena, bounded);
    let mut heap = match (alloc.make)(arena) {
        Ok(h) => h,
        Err(e) => return Outcome::Unavailable(e),
    };
    let mut live = Vec::with_capacity(fill.len() * 2 + 16);
    let mut none = Samples::default();
    if let Err((at, stop)) =
        run_ops::<FULL, false>(&mut *heap, fill, &mut live, &mut chk, &mut none)
    {
        return stopped(stop, at, fill.len(), "fill");
    }
    let t = timer::CpuStopwatch::start();
    let mut done = 0;
    let r = match budget {
        None => {
            done = steady.len();
            timed_steady::<FULL, TIMED>(&mut *heap, steady, &mut live, &mut chk, samples)
        }
        Some(budget) => {
            let mut r = Ok(());
            for chunk in steady.chunks(1024) {
                r = run_ops::<FULL, TIMED>(&mut *heap, chunk, &mut live, &mut chk, samples)
                    .map_err(|(at, stop)| (at + done as u64, stop));
                done += chunk.len();
                if r.is_err() || t.elapsed() > budget {
                    break;
                }
            }
            r
        }
    };
    let secs = t.elapsed().as_secs_f64();
    if let Err((at, stop)) = r {
        return stopped(stop, at, steady.len(), "steady");
    }
    if let Err(e) = drain::<FULL>(&mut *heap, &mut live) {
        return Outcome::Failed(e);
    }
    Outcome::Ok((secs, done))
}

fn stopped<T>(stop: Stop, at: u64, of: usize, phase: &str) -> Outcome<T> {
    match stop {
        Stop::Oom => Outcome::Oom { at, of: of as u64, phase: phase.to_owned() },
        Stop::Bad(e) => Outcome::Failed(format!("{phase} op {at}: {e}")),
    }
}

/// Converts an outcome's payload.
fn map<T, U>(o: Outcome<T>) -> Result<T, Outcome<U>> {
    match o {
        Outcome::Ok(t) => Ok(t),
        Outcome::Oom { at, of, phase } => Err(Outcome::Oom { at, of, phase }),
        Outcome::Failed(e) => Err(Outcome::Failed(e)),
        Outcome::Unavailable(e) => Err(Outcome::Unavailable(e)),
    }
}

/// Throughput of one random-actions configuration: ops/s of the steady phase, per repetition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Throughput {
    /// Operations per second, one per timed repetition.
    pub ops_per_sec: Vec<f64>,
    /// Steady operations timed per repetition (fewer than `of` when the time budget cut it).
    pub ops: usize,
    /// Steady operations in the program.
    pub of: usize,
}

/// The verification pass: full patterns over the whole program, or over the prefix that fits
/// in `budget`. Returns the number of steady ops the timed passes will run.
fn verify<U>(
    alloc: &NamedAllocator,
    arena: &mut Arena,
    program: &Program,
    budget: Option<Duration>,
) -> Result<usize, Outcome<U>> {
    let mut s = Samples::default();
    map(program_pass::<true, false>(alloc, arena, &program.fill, &program.steady, budget, &mut s))
        .map(|(_, done)| done)
}

/// Workload 1: random actions. One full-pattern verification pass (unless `verify` is false:
/// the callgrind re-run of a program already verified natively, see `crate::instructions`),
/// then `reps` timed passes.
///
/// # Time budget
///
/// A heap whose operations take O(free blocks) time (first fit) can need minutes for one pass
/// at N = 30000. If the verification pass exceeds `budget`, it stops at the next 1024-op
/// boundary, and the timed passes run that same prefix of the program; the result records how
/// many operations were timed. A prefix sees a younger, less fragmented heap, so a cut figure
/// is, if anything, optimistic for the heap that needed the cut; the report marks it.
pub fn throughput(
    alloc: &NamedAllocator,
    arena: &mut Arena,
    program: &Program,
    reps: usize,
    budget: Option<Duration>,
    verify_first: bool,
) -> Outcome<Throughput> {
    guarded(|| {
        let k = if verify_first {
            match verify(alloc, arena, program, budget) {
                Ok(k) => k,
                Err(o) => return o,
            }
        } else {
            program.steady.len()
        };
        let steady = &program.steady[..k];
        let mut ops_per_sec = Vec::with_capacity(reps);
        let mut s = Samples::default();
        for _ in 0..reps {
            match map(program_pass::<false, false>(
                alloc,
                arena,
                &program.fill,
                steady,
                None,
                &mut s,
            )) {
                Ok((secs, done)) => ops_per_sec.push(done as f64 / secs),
                Err(o) => return o,
            }
        }
        Outcome::Ok(Throughput { ops_per_sec, ops: k, of: program.steady.len() })
    })
}

/// Latency percentiles of one operation kind, in nanoseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples the percentiles are taken from (per repetition).
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// 99.99th percentile.
    pub p9999: f64,
    /// Slowest.
    pub max: f64,
}

impl Percentiles {
    fn of(ticks: &mut [u64], clock: &Clock) -> Percentiles {
        if ticks.is_empty() {
            return Percentiles::default();
        }
        ticks.sort_unstable();
        let at =
            |q: f64| clock.to_ns(ticks[((ticks.len() as f64 * q) as usize).min(ticks.len() - 1)]);
        Percentiles {
            count: ticks.len(),
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            p9999: at(0.9999),
            max: clock.to_ns(ticks[ticks.len() - 1]),
        }
    }
}

/// The latency figures of one worker process (one round, see `jobs::spawn_rounds`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LatencyRound {
    /// `[alloc, free, realloc]` percentiles of each timed repetition.
    pub reps: Vec<[Percentiles; 3]>,
    /// `[alloc, free, realloc]` percentiles of the per-operation floor: every repetition runs
    /// the same operations on a fresh heap, so the fastest of the runs for each operation
    /// keeps its own cost and drops most interruptions (a preemption or interrupt seldom hits
    /// the same operation in every run). Its maximum is the slowest operation's own time.
    #[serde(default)]
    pub floor: [Percentiles; 3],
}

/// Latency percentiles of each round (worker process) of workload 3.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "LatencyRepr")]
pub struct Latency {
    /// One entry per worker process, in the order they ran.
    pub rounds: Vec<LatencyRound>,
    /// Steady operations timed per repetition (fewer than `of` when the time budget cut it).
    pub ops: usize,
    /// Steady operations in the program.
    pub of: usize,
}

/// How [`Latency`] is read: as written, or, from results of before the rounds, as the
/// figures of a single worker.
#[derive(Deserialize)]
#[serde(untagged)]
enum LatencyRepr {
    Rounds { rounds: Vec<LatencyRound>, ops: usize, of: usize },
    One { reps: Vec<[Percentiles; 3]>, floor: Option<[Percentiles; 3]>, ops: usize, of: usize },
}

impl From<LatencyRepr> for Latency {
    fn from(r: LatencyRepr) -> Latency {
        match r {
            LatencyRepr::Rounds { rounds, ops, of } => Latency { rounds, ops, of },
            LatencyRepr::One { reps, floor, ops, of } => Latency {
                rounds: vec![LatencyRound { reps, floor: floor.unwrap_or_default() }],
                ops,
                of,
            },
        }
    }
}

/// Workload 3: per-operation latency over a random-actions program (same verification pass and
/// time budget as [`throughput`]).
pub fn latency(
    alloc: &NamedAllocator,
    arena: &mut Arena,
    program: &Program,
    reps: usize,
    budget: Option<Duration>,
    clock: &Clock,
) -> Outcome<Latency> {
    guarded(|| {
        let k = match verify(alloc, arena, program, budget) {
            Ok(k) => k,
            Err(o) => return o,
        };
        let steady = &program.steady[..k];
        let mut out = Vec::with_capacity(reps);
        let mut floor: Option<Samples> = None;
        for _ in 0..reps {
            let mut s = Samples {
                alloc: Vec::with_capacity(k),
                free: Vec::with_capacity(k),
                realloc: Vec::with_capacity(k),
            };
            if let Err(o) = map::<_, Latency>(program_pass::<false, true>(
                alloc,
                arena,
                &program.fill,
                steady,
                None,
                &mut s,
            )) {
                return o;
            }
            match &mut floor {
                None => floor = Some(s.clone()),
                Some(f) => f.keep_min(&s),
            }
            out.push([
                Percentiles::of(&mut s.alloc, clock),
                Percentiles::of(&mut s.free, clock),
                Percentiles::of(&mut s.realloc, clock),
            ]);
        }
        let mut f = floor.unwrap_or_default();
        let floor = [
            Percentiles::of(&mut f.alloc, clock),
            Percentiles::of(&mut f.free, clock),
            Percentiles::of(&mut f.realloc, clock),
        ];
        Outcome::Ok(Latency {
            rounds: vec![LatencyRound { reps: out, floor }],
            ops: k,
            of: program.steady.len(),
        })
    })
}

/// Heap efficiency per seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Efficiency {
    /// Live payload bytes / arena bytes at the first failed allocation, per seed.
    pub ratio: Vec<f64>,
}

/// Probability of an allocation (rather than a free) in the efficiency workload: the heap fills
/// up while blocks keep being freed at random, so holes of all sizes appear as it fills.
pub const EFFICIENCY_P_ALLOC: f64 = 0.7;

/// Workload 2: heap efficiency. For each seed, allocate (probability
/// [`EFFICIENCY_P_ALLOC`]) or free a random live block until the first allocation fails; the
/// score is the live payload at that moment over the arena size. Sizes and alignments as in
/// [`workload::size`] / [`workload::align_log2`]. Full patterns throughout; nothing is timed.
pub fn efficiency(alloc: &NamedAllocator, arena: &mut Arena, seeds: &[u64]) -> Outcome<Efficiency> {
    if !alloc.uses_arena {
        return Outcome::Unavailable(
            "no arena: the system allocator takes memory from the OS".into(),
        );
    }
    guarded(|| {
        let mut ratio = Vec::with_capacity(seeds.len());
        for &seed in seeds {
            let mut rng = Rng::new(seed);
            let mut chk = Checker::new(arena, true);
            let arena_len = arena.len();
            let mut heap = match (alloc.make)(arena) {
                Ok(h) => h,
                Err(e) => return Outcome::Unavailable(e),
            };
            let mut live: Vec<Block> = Vec::new();
            let mut payload = 0usize;
            let mut none = Samples::default();
            let mut step = 0u64;
            loop {
                step += 1;
                if step > 50_000_000 {
                    return Outcome::Failed("never ran out of memory (infinite arena?)".into());
                }
                let op = if live.is_empty() || rng.unit() < EFFICIENCY_P_ALLOC {
                    Op::Alloc {
                        size: workload::size(&mut rng) as u32,
                        align_log2: workload::align_log2(&mut rng),
                    }
                } else {
                    Op::Free { idx: rng.below(live.len()) as u32 }
                };
                let freed = match op {
                    Op::Free { idx } => live[idx as usize].layout.size(),
                    _ => 0,
                };
                match run_ops::<true, false>(&mut *heap, &[op], &mut live, &mut chk, &mut none) {
                    Ok(()) => {
                        if let Op::Alloc { size, .. } = op {
                            payload += size as usize;
                        }
                        payload -= freed;
                    }
                    Err((_, Stop::Oom)) => break,
                    Err((_, Stop::Bad(e))) => {
                        return Outcome::Failed(format!("seed {seed}, step {step}: {e}"))
                    }
                }
            }
            ratio.push(payload as f64 / arena_len as f64);
            if let Err(e) = drain::<true>(&mut *heap, &mut live) {
                return Outcome::Failed(e);
            }
        }
        Outcome::Ok(Efficiency { ratio })
    })
}

/// Trace replay results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Replay {
    /// Seconds per timed repetition.
    pub secs: Vec<f64>,
    /// Events replayed.
    pub events: u64,
    /// Span of all blocks ever returned: highest block end minus lowest block start (bytes);
    /// 0 without an arena.
    pub footprint: u64,
    /// Peak live payload of the trace (bytes).
    pub peak_live: u64,
}

/// Replays a trace once; returns the seconds taken and the footprint.
fn replay_pass<const FULL: bool>(
    alloc: &NamedAllocator,
    arena: &mut Arena,
    trace: &Trace,
) -> Outcome<(f64, u64)> {
    let mut chk = Checker::new(arena, alloc.uses_arena);
    let mut heap = match (alloc.make)(arena) {
        Ok(h) => h,
        Err(e) => return Outcome::Unavailable(e),
    };
    let mut slots = vec![EMPTY; trace.slots];
    let t = timer::CpuStopwatch::start();
    for (i, ev) in trace.events.iter().enumerate() {
        let bad = |e: String| Outcome::Failed(format!("trace event {i}: {e}"));
        match *ev {
            Event::Alloc { slot, size, align_log2 } => {
                let l = layout(size.into(), align_log2);
                let p = heap.alloc(l);
                if p.is_null() {
                    return Outcome::Oom {
                        at: i as u64,
                        of: trace.events.len() as u64,
                        phase: "trace".into(),
                    };
                }
                if let Err(e) = chk.admit(p, l) {
                    return bad(e);
                }
                let id = chk.id();
                // SAFETY: a fresh block of `l.size()` bytes.
                unsafe { fill::<FULL>(p, l.size(), id) };
                slots[slot as usize] = Block { ptr: p, layout: l, id };
            }
            Event::Free { slot } => {
                let b = std::mem::replace(&mut slots[slot as usize], EMPTY);
                // SAFETY: the trace was validated on load: the slot holds a live block.
                if !unsafe { check::<FULL>(b.ptr, b.layout.size(), b.layout.size(), b.id) } {
                    return bad(format!("block {:#x} corrupted before free", b.ptr.addr()));
                }
                // SAFETY: `b` is live, allocated by `heap` with `b.layout`.
                unsafe { heap.dealloc(b.ptr, b.layout) };
            }
            Event::Realloc { slot, new_size } => {
                let b = slots[slot as usize];
                let (old, new) = (b.layout.size(), new_size as usize);
                // SAFETY: the slot holds a live block.
                if !unsafe { check::<FULL>(b.ptr, old, old, b.id) } {
                    return bad(format!("block {:#x} corrupted before realloc", b.ptr.addr()));
                }
                // SAFETY: `b` is live, allocated by `heap` with `b.layout`; `new > 0`.
                let p = unsafe { heap.realloc(b.ptr, b.layout, new) };
                if p.is_null() {
                    return Outcome::Oom {
                        at: i as u64,
                        of: trace.events.len() as u64,
                        phase: "trace".into(),
                    };
                }
                let l = Layout::from_size_align(new, b.layout.align()).expect("valid layout");
                if let Err(e) = chk.admit(p, l) {
                    return bad(e);
                }
                // SAFETY: the first `min(old, new)` bytes were preserved by realloc.
                if !unsafe { check::<FULL>(p, old, old.min(new), b.id) } {
                    return bad("realloc lost contents".into());
                }
                // SAFETY: a live block of `new` bytes.
                unsafe { fill::<FULL>(p, new, b.id) };
                slots[slot as usize] = Block { ptr: p, layout: l, id: b.id };
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let mut rest: Vec<Block> = slots.into_iter().filter(|b| !b.ptr.is_null()).collect();
    if let Err(e) = drain::<FULL>(&mut *heap, &mut rest) {
        return Outcome::Failed(e);
    }
    // The span, not "highest end minus arena start": some heaps (bareheap's FirstFit) carve
    // from the top of a free block, and the memory a device must provide is the same either way.
    let footprint = if alloc.uses_arena && chk.min_start <= chk.max_end {
        (chk.max_end - chk.min_start) as u64
    } else {
        0
    };
    Outcome::Ok((secs, footprint))
}

/// Workload 4: replay of a recorded trace. A full-pattern pass (which also measures the
/// footprint), then `reps` timed passes.
pub fn replay(
    alloc: &NamedAllocator,
    arena: &mut Arena,
    trace: &Trace,
    reps: usize,
) -> Outcome<Replay> {
    guarded(|| {
        let footprint = match map::<_, Replay>(replay_pass::<true>(alloc, arena, trace)) {
            Ok((_, f)) => f,
            Err(o) => return o,
        };
        let mut secs = Vec::with_capacity(reps);
        for _ in 0..reps {
            match map::<_, Replay>(replay_pass::<false>(alloc, arena, trace)) {
                Ok((s, _)) => secs.push(s),
                Err(o) => return o,
            }
        }
        Outcome::Ok(Replay {
            secs,
            events: trace.events.len() as u64,
            footprint,
            peak_live: trace.peak_live,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_from_before_the_rounds_reads_as_one_round() {
        let p = r#"{"count":2,"p50":1.0,"p99":2.0,"p999":3.0,"p9999":4.0,"max":5.0}"#;
        let three = format!("[{p},{p},{p}]");
        let old = format!(r#"{{"reps":[{three},{three}],"floor":{three},"ops":7,"of":9}}"#);
        let l: Latency = serde_json::from_str(&old).unwrap();
        assert_eq!((l.rounds.len(), l.rounds[0].reps.len(), l.ops, l.of), (1, 2, 7, 9));
        assert_eq!(l.rounds[0].floor[2].max, 5.0);
        let again: Latency = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!((again.rounds.len(), again.rounds[0].reps.len()), (1, 2));
    }

    #[test]
    fn check_detects_a_flipped_byte_in_full_mode_only_in_the_middle() {
        let mut buf = vec![0u8; 100];
        let p = buf.as_mut_ptr();
        // SAFETY: `buf` holds 100 bytes.
        unsafe {
            fill::<true>(p, 100, 42);
            assert!(check::<true>(p, 100, 100, 42));
            *p.add(50) ^= 1;
            assert!(!check::<true>(p, 100, 100, 42));
            assert!(check::<false>(p, 100, 100, 42), "sparse mode does not look at the middle");
            *p.add(95) ^= 1;
            assert!(!check::<false>(p, 100, 100, 42));
        }
    }

    #[test]
    fn check_prefix_after_grow_and_shrink() {
        let mut buf = vec![0u8; 200];
        let p = buf.as_mut_ptr();
        for size in [1, 7, 15, 16, 17, 100] {
            for keep in 0..=size {
                // SAFETY: `buf` holds 200 bytes.
                unsafe {
                    fill::<true>(p, size, 9);
                    assert!(check::<true>(p, size, keep, 9), "size {size} keep {keep}");
                    assert!(check::<false>(p, size, keep, 9));
                }
            }
        }
    }

    #[test]
    fn every_available_allocator_passes_a_small_verified_run() {
        let program = workload::random_actions(1, 300, 3000, true);
        let mut arena = Arena::new(8 << 20);
        for a in crate::heaps::registry() {
            match throughput(&a, &mut arena, &program, 1, None, true) {
                Outcome::Ok(t) => assert_eq!(t.ops_per_sec.len(), 1),
                Outcome::Unavailable(_) => {}
                Outcome::Oom { .. } if !a.frees => {}
                other => panic!("{}: {other:?}", a.name),
            }
        }
    }

    #[test]
    fn efficiency_is_between_zero_and_one() {
        let mut arena = Arena::new(1 << 20);
        let talc = crate::heaps::registry().into_iter().find(|a| a.name == "talc").unwrap();
        let Outcome::Ok(e) = efficiency(&talc, &mut arena, &[1, 2]) else { panic!() };
        assert!(e.ratio.iter().all(|&r| r > 0.3 && r < 1.0), "{:?}", e.ratio);
    }
}
