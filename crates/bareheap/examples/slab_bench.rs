//! Small-object throughput of `Slab<FirstFit>` against its own backing heap, `FirstFit`.
//!
//! Run: `cargo run --release -p bareheap --example slab_bench`
//! (`-- --quick` for a short smoke run; `-- tree "churn 64"` runs only the named workloads;
//! `--only-slab` / `--only-plain` runs one heap, for instruction counts under
//! `valgrind --tool=callgrind`, whose totals for the two runs differ only by the heap).
//!
//! Both heaps sit behind `Locked<Spin, _>` over a 16 MiB static buffer each. The process's
//! global allocator switches between them (and the system allocator, used for everything
//! outside the measured loops); a free is routed by address to the heap that owns the block.
//! Each workload runs 7 rounds per heap, alternating between the heaps, and the best time is
//! reported, as operations (allocations + frees) per second. On a loaded machine wall time is
//! noisy: the instruction counts of `--only-slab`/`--only-plain` runs under callgrind are the
//! repeatable measure (see `BENCHMARKS.md`).
//!
//! Workloads:
//! - `tree`: build a binary tree of `Box<Node>` (24-byte nodes) held in a `Vec<Box<Node>>`
//!   spine, then drop it: the allocation pattern of parsers and scene graphs.
//! - `forest`: 16 such trees (depth 6) kept alive; each step drops a random one and builds a
//!   replacement, so frees and allocations interleave across the heap (scene-graph updates).
//! - `btree`: random inserts and removes in a `BTreeMap<u64, u64>` of about 10,000 entries
//!   (node sizes around 200 and 300 bytes).
//! - `churn N`: a live set of 1,000 blocks of N bytes (random in `N/2+1..=N`), each step frees a
//!   random one and allocates a new one, through `std::alloc::{alloc, dealloc}`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bareheap::{FirstFit, HeapMemory, Locked, Slab, Spin};

const HEAP_BYTES: usize = 16 << 20;

static SLAB_MEMORY: HeapMemory<HEAP_BYTES> = HeapMemory::new();
static PLAIN_MEMORY: HeapMemory<HEAP_BYTES> = HeapMemory::new();
static SLAB: Locked<Spin, Slab<FirstFit>> = Locked::new(Slab::new(FirstFit::new()));
static PLAIN: Locked<Spin, FirstFit> = Locked::new(FirstFit::new());

/// Which heap serves new allocations: 0 system, 1 slab, 2 plain.
static CURRENT: AtomicU8 = AtomicU8::new(0);
static SLAB_RANGE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static PLAIN_RANGE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Operations counted by the allocator (allocations + frees), so the figures need no guesses.
static OPS: AtomicU64 = AtomicU64::new(0);

fn in_range(r: &[AtomicU64; 2], p: *mut u8) -> bool {
    let a = p as u64;
    a >= r[0].load(Ordering::Relaxed) && a < r[1].load(Ordering::Relaxed)
}

struct Switch;

// SAFETY: each block is allocated by exactly one of three allocators and freed by the same
// one: frees are routed by the address range of the two static heaps, everything else is the
// system allocator's.
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match CURRENT.load(Ordering::Relaxed) {
            1 => {
                OPS.fetch_add(1, Ordering::Relaxed);
                // SAFETY: forwarded contract.
                unsafe { SLAB.alloc(layout) }
            }
            2 => {
                OPS.fetch_add(1, Ordering::Relaxed);
                // SAFETY: forwarded contract.
                unsafe { PLAIN.alloc(layout) }
            }
            // SAFETY: forwarded contract.
            _ => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_range(&SLAB_RANGE, ptr) {
            OPS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the block lies in the slab heap's memory, so it is that heap's.
            unsafe { SLAB.dealloc(ptr, layout) }
        } else if in_range(&PLAIN_RANGE, ptr) {
            OPS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: as above for the plain heap.
            unsafe { PLAIN.dealloc(ptr, layout) }
        } else {
            // SAFETY: not from either heap, so from the system allocator.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

#[global_allocator]
static GLOBAL: Switch = Switch;

#[allow(dead_code)] // the fields are there for their size
struct Node {
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
    value: u64,
}

fn tree(depth: u32, value: u64) -> Box<Node> {
    if depth == 0 {
        return Box::new(Node { left: None, right: None, value });
    }
    Box::new(Node {
        left: Some(tree(depth - 1, value * 2)),
        right: Some(tree(depth - 1, value * 2 + 1)),
        value,
    })
}

fn workload_tree(scale: usize) {
    for _ in 0..scale {
        let mut spine: Vec<Box<Node>> = Vec::with_capacity(16);
        for i in 0..16 {
            spine.push(tree(8, i));
        }
        black_box(&spine);
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn workload_forest(scale: usize) {
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut forest: Vec<Box<Node>> = (0..16).map(|i| tree(6, i)).collect();
    for step in 0..scale * 200 {
        let i = (rng.next() % 16) as usize;
        forest[i] = tree(6, step as u64);
    }
    black_box(&forest);
}

fn workload_btree(scale: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut map = BTreeMap::new();
    for _ in 0..scale * 10_000 {
        let k = rng.next() % 20_000;
        if rng.next() % 2 == 0 {
            map.insert(k, k);
        } else {
            map.remove(&k);
        }
    }
    black_box(&map);
}

fn workload_churn(scale: usize, max: usize) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let layout_of =
        |r: u64| Layout::from_size_align(max / 2 + 1 + (r as usize) % (max / 2), 8).unwrap();
    let mut live: Vec<(*mut u8, Layout)> = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let l = layout_of(rng.next());
        // SAFETY: non-zero size.
        let p = unsafe { std::alloc::alloc(l) };
        assert!(!p.is_null());
        live.push((p, l));
    }
    for _ in 0..scale * 20_000 {
        let i = (rng.next() as usize) % live.len();
        let (p, l) = live[i];
        // SAFETY: allocated above with `l`.
        unsafe { std::alloc::dealloc(p, l) };
        let l = layout_of(rng.next());
        // SAFETY: non-zero size.
        let p = unsafe { std::alloc::alloc(l) };
        assert!(!p.is_null());
        live[i] = (p, l);
    }
    for (p, l) in live {
        // SAFETY: allocated above with `l`.
        unsafe { std::alloc::dealloc(p, l) };
    }
}

/// Runs `f` with heap `which` serving allocations; returns (best time, ops per run).
fn measure(which: u8, rounds: usize, f: &dyn Fn()) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut ops = 0;
    for _ in 0..rounds {
        OPS.store(0, Ordering::Relaxed);
        CURRENT.store(which, Ordering::Relaxed);
        let start = Instant::now();
        f();
        let t = start.elapsed();
        CURRENT.store(0, Ordering::Relaxed);
        best = best.min(t);
        ops = OPS.load(Ordering::Relaxed);
    }
    (best, ops)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only_slab = std::env::args().any(|a| a == "--only-slab");
    let only_plain = std::env::args().any(|a| a == "--only-plain");
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (rounds, scale) = if quick { (2, 1) } else { (7, 10) };

    let slab_region = SLAB_MEMORY.take().expect("first take");
    let plain_region = PLAIN_MEMORY.take().expect("first take");
    for (range, region) in [(&SLAB_RANGE, &slab_region), (&PLAIN_RANGE, &plain_region)] {
        let start = region.base().as_ptr() as u64;
        range[0].store(start, Ordering::Relaxed);
        range[1].store(start + region.len() as u64, Ordering::Relaxed);
    }
    SLAB.claim(slab_region).expect("claim");
    PLAIN.claim(plain_region).expect("claim");

    println!(
        "slab_bench: ops/s (allocations + frees), best of {rounds}, {} build",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    println!("{:<14} {:>16} {:>16} {:>8}", "workload", "Slab<FirstFit>", "FirstFit", "speedup");
    let workloads: Vec<(String, Box<dyn Fn()>)> = vec![
        ("tree".into(), Box::new(move || workload_tree(scale))),
        ("forest".into(), Box::new(move || workload_forest(scale))),
        ("btree".into(), Box::new(move || workload_btree(scale))),
        ("churn 16".into(), Box::new(move || workload_churn(scale, 16))),
        ("churn 64".into(), Box::new(move || workload_churn(scale, 64))),
        ("churn 256".into(), Box::new(move || workload_churn(scale, 256))),
        ("churn 1024".into(), Box::new(move || workload_churn(scale, 1024))),
    ];
    let mut slower = Vec::new();
    for (name, f) in &workloads {
        if !filter.is_empty() && !filter.iter().any(|x| name == x) {
            continue;
        }
        if only_slab || only_plain {
            let (t, ops) = measure(if only_slab { 1 } else { 2 }, rounds, f.as_ref());
            println!("{name:<14} {:>16.0} ops/s ({ops} ops per run)", ops as f64 / t.as_secs_f64());
            continue;
        }
        // Alternate the heaps round by round, so that load on a shared machine hits both alike.
        let (mut ts, mut tp, mut ops_s, mut ops_p) = (Duration::MAX, Duration::MAX, 0, 0);
        for _ in 0..rounds {
            let (t, o) = measure(1, 1, f.as_ref());
            (ts, ops_s) = (ts.min(t), o);
            let (t, o) = measure(2, 1, f.as_ref());
            (tp, ops_p) = (tp.min(t), o);
        }
        assert_eq!(ops_s, ops_p, "both heaps ran the same operations");
        let rate = |ops: u64, t: Duration| ops as f64 / t.as_secs_f64();
        let (rs, rp) = (rate(ops_s, ts), rate(ops_p, tp));
        println!("{name:<14} {rs:>16.0} {rp:>16.0} {:>7.2}x", rs / rp);
        if rs < rp && name != "churn 1024" {
            slower.push(name.clone());
        }
    }
    let ok_s = SLAB.lock(|h| bareheap::Heap::validate(h).is_ok()) == Some(true);
    let ok_p = PLAIN.lock(|h| bareheap::Heap::validate(h).is_ok()) == Some(true);
    println!(
        "validate: Slab<FirstFit> {}, FirstFit {}",
        if ok_s { "ok" } else { "FAILED" },
        if ok_p { "ok" } else { "FAILED" }
    );
    if !slower.is_empty() {
        println!("NOTE: slab slower than its backing heap on {slower:?}");
    }
}
