//! `Slab<FirstFit, SmallClasses>` on every board: as the global allocator under `alloc`
//! collections (a `Vec<Box<Node>>` tree, a `BTreeMap`), its lifecycle (exhaust, free, reuse,
//! give every slab back), and its checked frees (double, interior, wrong class) on target.
//!
//! Run: `cargo run --release --bin slab_smoke` in `firmware/` (QEMU), or `cargo xtask test`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::hint::black_box;

use bareheap::slab::{InvalidFree, SmallClasses};
use bareheap::{CriticalSection, FirstFit, Heap, HeapMemory, Locked, Slab};
use firmware::rng::XorShift32;
use firmware::runner::{self, Outcome, Test};
use firmware::{board, ensure, hprintln};

type SlabHeap = Slab<FirstFit, SmallClasses>;

/// Whether the board has RAM for the full-size test (a 16 KiB test arena; the Cortex-M0 board
/// has 16 KiB of RAM in all and gets smaller heaps and trees).
const ROOMY: bool = board::ARENA >= 16 * 1024;
/// The global heap's bytes.
const GLOBAL_LEN: usize = if ROOMY { 24 * 1024 } else { board::ARENA };
/// The scratch heap's bytes.
const SCRATCH_LEN: usize = if ROOMY { 6 * 1024 } else { 3 * 1024 };
/// The depth of the trees of boxes (`2^(DEPTH+1) - 1` nodes each).
const DEPTH: u32 = if ROOMY { 6 } else { 5 };

static MEMORY: HeapMemory<GLOBAL_LEN> = HeapMemory::new();
static SCRATCH: HeapMemory<SCRATCH_LEN> = HeapMemory::new();

#[global_allocator]
static HEAP: Locked<CriticalSection, SlabHeap> = Locked::new(Slab::new(FirstFit::new()));

/// What the tests share: the scratch heap (driven through `Heap` directly) and the global
/// heap's free bytes right after `claim`.
struct Ctx {
    scratch: SlabHeap,
    fresh_free: usize,
}

#[firmware::entry]
fn main() -> ! {
    let claimed = HEAP.claim(MEMORY.take().expect("first take")).expect("claim");
    let fresh_free = HEAP.lock(|h| h.backing().free_bytes()).unwrap_or(0);
    let mut scratch = Slab::new(FirstFit::new());
    bareheap::Claim::claim(&mut scratch, SCRATCH.take().expect("first take")).expect("claim");
    hprintln!(
        "slab_smoke: global heap {} bytes, slab header {} bytes",
        claimed,
        SlabHeap::header_size()
    );
    let tests: &[Test<Ctx>] = &[
        Test {
            name: "tree_of_boxes_builds_and_drops_cleanly",
            run: tree_of_boxes_builds_and_drops_cleanly,
        },
        Test {
            name: "btree_map_churn_keeps_the_heap_valid",
            run: btree_map_churn_keeps_the_heap_valid,
        },
        Test {
            name: "exhausted_slab_heap_frees_and_reuses_everything",
            run: exhausted_slab_heap_frees_and_reuses_everything,
        },
        Test {
            name: "invalid_frees_are_refused_without_damage",
            run: invalid_frees_are_refused_without_damage,
        },
        Test { name: "trim_gives_every_slab_back", run: trim_gives_every_slab_back },
    ];
    runner::run("slab_smoke", &mut Ctx { scratch, fresh_free }, tests)
}

fn validate_global() -> Outcome {
    let result = HEAP.lock(|h| (h.validate(), h.invalid_frees()));
    ensure!(matches!(result, Some((Ok(()), 0))), "global heap: {:?}", result);
    Ok(())
}

#[allow(dead_code)] // the fields give the node its size
struct Node {
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
    value: u32,
}

fn tree(depth: u32, value: u32) -> Box<Node> {
    if depth == 0 {
        return Box::new(Node { left: None, right: None, value });
    }
    Box::new(Node {
        left: Some(tree(depth - 1, 2 * value)),
        right: Some(tree(depth - 1, 2 * value + 1)),
        value,
    })
}

fn sum(node: &Node) -> u32 {
    node.value + node.left.as_deref().map_or(0, sum) + node.right.as_deref().map_or(0, sum)
}

fn tree_of_boxes_builds_and_drops_cleanly(_: &mut Ctx) -> Outcome {
    for round in 0..20 {
        let forest: Vec<Box<Node>> = (0..4).map(|i| tree(DEPTH, i)).collect();
        // Level d of tree i holds the values i*2^d .. (i+1)*2^d: the sums are known.
        let total: u32 = forest.iter().map(|t| sum(t)).sum();
        let level = |i: u32, d: u32| (0..1u32 << d).map(|k| (i << d) + k).sum::<u32>();
        let expected: u32 = (0..4u32).map(|i| (0..=DEPTH).map(|d| level(i, d)).sum::<u32>()).sum();
        ensure!(total == expected, "round {}: tree sum {} != {}", round, total, expected);
        black_box(&forest);
    }
    validate_global()
}

fn btree_map_churn_keeps_the_heap_valid(_: &mut Ctx) -> Outcome {
    let mut rng = XorShift32::new(0x51ab_51ab);
    let mut map = BTreeMap::new();
    for step in 0..4000u32 {
        let k = rng.next_u32() % 300;
        if rng.next_u32() & 1 == 0 {
            map.insert(k, step);
        } else {
            map.remove(&k);
        }
    }
    ensure!(map.len() <= 300, "map larger than its key space");
    drop(map);
    validate_global()
}

fn exhausted_slab_heap_frees_and_reuses_everything(c: &mut Ctx) -> Outcome {
    let layout = Layout::new::<[u32; 8]>(); // the 32-byte class
    let mut blocks = Vec::new();
    while let Some(p) = c.scratch.allocate(layout) {
        // SAFETY: a fresh 32-byte block of the scratch heap.
        unsafe { p.as_ptr().write_bytes(blocks.len() as u8, 32) };
        blocks.push(p);
    }
    let first = blocks.len();
    hprintln!(
        "    {} blocks of 32 bytes in a {} KiB heap, {} slabs",
        first,
        SCRATCH_LEN / 1024,
        c.scratch.slab_count()
    );
    // Slabs of 1 KiB, 30 slots each, aligned to 1 KiB: after FirstFit's alignment hole (under
    // 1 KiB) and headers, at least `KiB - 2` whole slabs fit (6 KiB: one 4 KiB span).
    let slabs = SCRATCH_LEN / 1024 - 2;
    ensure!(first >= slabs * 30, "only {} blocks fit ({} slabs expected)", first, slabs);
    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: the block is live and was filled above.
        let byte = unsafe { p.as_ptr().add(31).read() };
        ensure!(byte == i as u8, "block {} overwritten", i);
    }
    for p in blocks.drain(..) {
        // SAFETY: allocated above with `layout`.
        unsafe { c.scratch.deallocate(p, layout) };
    }
    while let Some(p) = c.scratch.allocate(layout) {
        blocks.push(p);
    }
    ensure!(blocks.len() == first, "{} blocks the second time, {} the first", blocks.len(), first);
    for p in blocks {
        // SAFETY: allocated above with `layout`.
        unsafe { c.scratch.deallocate(p, layout) };
    }
    ensure!(c.scratch.validate().is_ok(), "scratch heap: {:?}", c.scratch.validate());
    Ok(())
}

fn invalid_frees_are_refused_without_damage(c: &mut Ctx) -> Outcome {
    let layout = Layout::new::<[u32; 4]>(); // the 16-byte class
    let a = c.scratch.allocate(layout);
    let b = c.scratch.allocate(layout);
    let (Some(a), Some(b)) = (a, b) else {
        ensure!(false, "scratch heap could not allocate");
        return Ok(());
    };
    let before = c.scratch.invalid_frees();
    // SAFETY: each call breaks the deallocation contract on purpose; the slab must detect it
    // before writing anything (catalogue C1, C3, J2).
    unsafe {
        c.scratch.deallocate(a, layout);
        c.scratch.deallocate(a, layout);
        ensure!(c.scratch.last_invalid_free() == Some(InvalidFree::NotAllocated), "double free");
        c.scratch.deallocate(b.add(4), layout);
        ensure!(c.scratch.last_invalid_free() == Some(InvalidFree::NotSlotStart), "interior");
        c.scratch.deallocate(b, Layout::new::<[u32; 16]>());
        ensure!(c.scratch.last_invalid_free() == Some(InvalidFree::WrongClass), "wrong class");
    }
    ensure!(
        c.scratch.invalid_frees() == before + 3,
        "{} refused",
        c.scratch.invalid_frees() - before
    );
    ensure!(c.scratch.validate().is_ok(), "scratch heap: {:?}", c.scratch.validate());
    // SAFETY: `b` is still live with `layout`.
    unsafe { c.scratch.deallocate(b, layout) };
    Ok(())
}

fn trim_gives_every_slab_back(c: &mut Ctx) -> Outcome {
    let result = HEAP.lock(|h| {
        h.trim();
        (h.slab_count(), h.backing().free_bytes())
    });
    // The runner and the tests hold no allocation now, so every slab is empty.
    ensure!(
        result == Some((0, c.fresh_free)),
        "slabs and free bytes after trim: {:?}, fresh {}",
        result,
        c.fresh_free
    );
    c.scratch.trim();
    ensure!(c.scratch.slab_count() == 0, "scratch slabs left: {}", c.scratch.slab_count());
    validate_global()
}
