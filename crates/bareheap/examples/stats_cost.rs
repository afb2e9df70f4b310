//! What [`Counted`] costs: the same operation sequence on a heap with and without statistics.
//!
//! ```sh
//! cargo run --release -p bareheap --example stats_cost            # wall time, all rows
//! cargo run --release -p bareheap --example stats_cost -- bump 1  # one row, one round
//! ```
//!
//! With a row name and a round count, the program runs just that row, once per round, and
//! prints nothing else: that is the mode for exact instruction counts under callgrind, where
//! the cost per operation is `(Ir(counted) - Ir(plain)) / operations`:
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/stats_cost bump 20
//! ```
//!
//! The workload: a fixed xorshift sequence of 4096 live-set operations per round: allocate
//! (sizes 1..=256, alignment 1..=16) while fewer than 64 blocks are live, otherwise free one:
//! the most recent for the bump heap (which reclaims only its last block, and is reset between
//! rounds), a random one for the others. Every operation goes through `Locked<Spin, _>` as
//! `GlobalAlloc`, the way firmware uses the heap.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Instant;

use bareheap::{Bump, Claim, Counted, FirstFit, Heap, Locked, Region, Spin};

const OPS: usize = 4096;
const ARENA: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Op {
    Alloc(Layout),
    /// Free the live block at this index.
    Free(usize),
}

/// The operation program, generated once so every row replays exactly the same calls.
fn program(lifo: bool) -> Vec<Op> {
    let mut x = 0x9E37_79B9u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut live = 0usize;
    let mut ops = Vec::with_capacity(OPS);
    for _ in 0..OPS {
        if live < 64 && (live == 0 || next() % 3 != 0) {
            let size = 1 + (next() % 256) as usize;
            let align = 1 << (next() % 5);
            ops.push(Op::Alloc(Layout::from_size_align(size, align).unwrap()));
            live += 1;
        } else {
            let i = if lifo { live - 1 } else { next() as usize % live };
            ops.push(Op::Free(i));
            live -= 1;
        }
    }
    ops
}

/// The allocations and deallocations one round makes: the program plus the final frees.
fn heap_calls(lifo: bool) -> usize {
    let ops = program(lifo);
    let allocs = ops.iter().filter(|op| matches!(op, Op::Alloc(_))).count();
    2 * allocs // every allocation is freed once
}

/// Replays `ops` through `heap`, then frees whatever is left.
fn replay<H: Heap>(heap: &Locked<Spin, H>, ops: &[Op], live: &mut Vec<(*mut u8, Layout)>) {
    for op in ops {
        match *op {
            Op::Alloc(layout) => {
                // SAFETY: non-zero size; every block is freed below with its layout.
                let p = unsafe { heap.alloc(layout) };
                assert!(!p.is_null(), "the arena is large enough for the program");
                live.push((black_box(p), layout));
            }
            Op::Free(i) => {
                let (p, layout) = live.remove(i);
                // SAFETY: `p` is live with `layout` and removed from the list, so freed once.
                unsafe { heap.dealloc(p, layout) };
            }
        }
    }
    while let Some((p, layout)) = live.pop() {
        // SAFETY: as above.
        unsafe { heap.dealloc(p, layout) };
    }
}

fn region() -> Region {
    let mem: &'static mut [MaybeUninit<u8>] = Box::leak(vec![MaybeUninit::uninit(); ARENA].into());
    Region::from_static(mem).unwrap()
}

fn locked<H: Heap + Claim>(heap: H) -> Locked<Spin, H> {
    let locked = Locked::new(heap);
    locked.claim(region()).unwrap();
    locked
}

/// One benchmark row: a name, the free order, and a function that runs `rounds` rounds of the
/// program on a fresh heap.
struct Row {
    name: &'static str,
    lifo: bool,
    run: fn(rounds: u32, lifo: bool),
}

fn rounds_on<H: Heap + Claim>(heap: H, rounds: u32, lifo: bool, reset: fn(&mut H)) {
    let ops = program(lifo);
    let heap = locked(heap);
    let mut live = Vec::with_capacity(64);
    for _ in 0..rounds {
        replay(&heap, &ops, &mut live);
        heap.lock(reset);
    }
    assert!(heap.lock(|h| h.validate()).unwrap().is_ok());
}

const ROWS: &[Row] = &[
    Row { name: "bump", lifo: true, run: |n, lifo| rounds_on(Bump::new(), n, lifo, reset_bump) },
    Row {
        name: "counted-bump",
        lifo: true,
        run: |n, lifo| rounds_on(Counted::new(Bump::new()), n, lifo, |b| reset_bump(b.heap_mut())),
    },
    Row {
        name: "first-fit",
        lifo: false,
        run: |n, lifo| rounds_on(FirstFit::new(), n, lifo, |_| ()),
    },
    Row {
        name: "counted-first-fit",
        lifo: false,
        run: |n, lifo| rounds_on(Counted::new(FirstFit::new()), n, lifo, |_| ()),
    },
];

/// Gives a bump heap its memory back between rounds.
fn reset_bump(b: &mut Bump) {
    // SAFETY: `replay` freed every block before this runs; none is used afterwards.
    unsafe { b.reset() };
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [name, rounds] = args.as_slice() {
        let row = ROWS.iter().find(|r| r.name == name).expect("unknown row");
        (row.run)(rounds.parse().expect("rounds"), row.lifo);
        println!(
            "{} heap calls per round",
            heap_calls(row.name != "bump" && row.name != "counted-bump")
        );
        return;
    }
    const ROUNDS: u32 = 50;
    const SAMPLES: usize = 15;
    println!("{OPS} ops x {ROUNDS} rounds, best of {SAMPLES} samples (rows interleaved)");
    let mut best = vec![f64::INFINITY; ROWS.len()];
    for _ in 0..SAMPLES {
        for (row, best) in ROWS.iter().zip(&mut best) {
            let start = Instant::now();
            (row.run)(ROUNDS, row.lifo);
            let ns = start.elapsed().as_nanos() as f64 / f64::from(ROUNDS) / OPS as f64;
            *best = best.min(ns);
        }
    }
    for (row, best) in ROWS.iter().zip(&best) {
        println!("{:<16} {best:>7.2} ns/op", row.name);
    }
}
