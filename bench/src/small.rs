//! Workload 5: small objects through real Rust collections (every request ≤ 256 B).
//!
//! Two programs, each run unchanged against every heap:
//! - **tree**: builds a random tree of `n` `Box<Node>`s, each with a `Vec<Box<Node>>` of up to
//!   six children and a short `String` name, checks it, then drops it whole. Requests: the
//!   56-byte node, 32- and 64-byte child vectors, 1..=100-byte names.
//! - **btree**: a `BTreeMap<u32, Box<[u64; 3]>>` kept near `n` entries by a seeded sequence of
//!   inserts and removes (a mean-reverting walk, as in workload 1). Requests: the 24-byte
//!   values and the map's 144-byte leaf and 240-byte internal nodes.
//!
//! # How a collection reaches the heap under test
//!
//! Stable Rust collections allocate through the global allocator only, so the `bench` binary
//! installs [`Router`] as its `#[global_allocator]`. While [`with_heap`] runs a closure, every
//! allocation, free and realloc of this thread goes to the heap under test (and is counted and
//! checked: non-null, aligned, inside the arena); outside it, to the system allocator. The
//! closure frees everything it allocated before it returns, so no block crosses the boundary.
//! The router costs the same for every heap: a thread-local read and a dynamic call.
//!
//! The figure is heap operations (alloc + free + realloc) per second of the whole program,
//! collection work included: the ratios between heaps understate the heaps' own difference.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::hint::black_box;

use serde::{Deserialize, Serialize};

use crate::heaps::{Arena, BenchHeap, NamedAllocator};
use crate::run::Outcome;
use crate::workload::Rng;

/// Why a heap that never frees has no small-object figures: every program frees as much as
/// it allocates, many times over, so it would run a bump heap out of any arena. Not a skip:
/// the workload does not apply.
pub const NOT_APPLICABLE: &str = "does not apply: the heap never frees";

/// The two small-object programs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Program {
    /// `Vec<Box<Node>>` tree build and teardown.
    Tree,
    /// `BTreeMap<u32, Box<[u64; 3]>>` insert/remove churn.
    BTree,
}

impl Program {
    /// Name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Program::Tree => "Vec<Box<Node>> tree",
            Program::BTree => "BTreeMap churn",
        }
    }
}

/// Result of one small-object job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmallObjects {
    /// Heap operations per second, one per timed repetition.
    pub ops_per_sec: Vec<f64>,
    /// Heap operations per repetition.
    pub heap_ops: u64,
    /// The largest request seen, bytes (checks the ≤ 256 B promise).
    pub max_request: usize,
}

/// The heap a [`Router`] forwards to, with the bounds it checks blocks against.
#[derive(Clone, Copy)]
struct Route {
    heap: *mut (dyn BenchHeap + 'static),
    lo: usize,
    hi: usize,
}

/// The router's per-thread state, in one block: one thread-local address computation per
/// call, the same few loads and stores for every heap.
struct RouterState {
    /// The routed heap, or `None` (the system allocator). Taken out while a call into the
    /// heap runs: a heap that allocated from the global allocator itself (none does) would
    /// get the system allocator instead of recursing.
    route: Cell<Option<Route>>,
    ops: Cell<u64>,
    max_request: Cell<usize>,
    /// The first bad block the router saw (null, misaligned or outside the arena).
    bad: Cell<Option<(usize, usize, usize)>>,
}

thread_local! {
    static STATE: RouterState = const {
        RouterState {
            route: Cell::new(None),
            ops: Cell::new(0),
            max_request: Cell::new(0),
            bad: Cell::new(None),
        }
    };
}

/// The global allocator of the `bench` binary: the system allocator, except inside
/// [`with_heap`] on the calling thread (see the module docs).
pub struct Router;

impl Router {
    /// Runs `f` with the current route, if any.
    #[inline(always)]
    fn routed<R>(f: impl FnOnce(&RouterState, Route) -> R) -> Option<R> {
        STATE.with(|s| {
            let route = s.route.take()?;
            let out = f(s, route);
            s.route.set(Some(route));
            Some(out)
        })
    }

    #[inline(always)]
    fn admit(s: &RouterState, route: Route, p: *mut u8, layout: Layout) {
        s.ops.set(s.ops.get() + 1);
        s.max_request.set(s.max_request.get().max(layout.size()));
        let a = p.addr();
        let inside =
            route.lo == route.hi || (a >= route.lo && a.wrapping_add(layout.size()) <= route.hi);
        // `Layout` alignments are powers of two: a mask, not a division.
        let aligned = a & (layout.align() - 1) == 0;
        if !(inside && aligned && !p.is_null()) {
            Router::bad(s, a, layout);
        }
    }

    /// Records the first bad block (out of line: it never happens in a valid run).
    #[cold]
    #[inline(never)]
    fn bad(s: &RouterState, a: usize, layout: Layout) {
        if s.bad.get().is_none() {
            s.bad.set(Some((a, layout.size(), layout.align())));
        }
    }
}

// SAFETY: outside a route, every call goes to `System`. Inside one, every call goes to the
// routed heap, which hands out distinct blocks of the requested layout (checked here), and
// `with_heap` guarantees that every block allocated through the route is freed through it.
unsafe impl GlobalAlloc for Router {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Router::routed(|s, r| {
            // SAFETY: `with_heap` keeps the heap alive and unaliased while the route is set.
            let p = unsafe { (*r.heap).alloc(layout) };
            Router::admit(s, r, p, layout);
            p
        })
        // SAFETY: forwarded `GlobalAlloc` contract.
        .unwrap_or_else(|| unsafe { System.alloc(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let routed = Router::routed(|s, r| {
            s.ops.set(s.ops.get() + 1);
            // SAFETY: blocks freed inside the route were allocated through it (`with_heap`).
            unsafe { (*r.heap).dealloc(ptr, layout) }
        });
        if routed.is_none() {
            // SAFETY: forwarded `GlobalAlloc` contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Router::routed(|s, r| {
            // SAFETY: as in `dealloc`; `new_size` is non-zero and valid for the alignment.
            let p = unsafe { (*r.heap).realloc(ptr, layout, new_size) };
            // SAFETY: `GlobalAlloc::realloc`'s contract makes this layout valid.
            Router::admit(s, r, p, unsafe {
                Layout::from_size_align_unchecked(new_size, layout.align())
            });
            p
        })
        // SAFETY: forwarded `GlobalAlloc` contract.
        .unwrap_or_else(|| unsafe { System.realloc(ptr, layout, new_size) })
    }
}

/// Runs `f` with every allocation of this thread going to `heap` (see the module docs).
/// Returns `f`'s result and the heap operations it made, or why the run is invalid.
///
/// `f` must free everything it allocates before it returns.
fn with_heap<R>(
    heap: &mut (dyn BenchHeap + '_),
    bounds: Option<(usize, usize)>,
    f: impl FnOnce() -> R,
) -> Result<(R, u64), String> {
    let raw: *mut (dyn BenchHeap + '_) = heap;
    // SAFETY: only the lifetime bound changes; the route is removed before `heap`'s borrow
    // ends (below, and a panic aborts the worker: panics are caught by no one here).
    let raw: *mut (dyn BenchHeap + 'static) = unsafe { std::mem::transmute(raw) };
    let (lo, hi) = bounds.unwrap_or((0, 0));
    STATE.with(|s| {
        s.ops.set(0);
        s.route.set(Some(Route { heap: raw, lo, hi }));
    });
    let out = f();
    let (ops, bad) = STATE.with(|s| {
        s.route.set(None);
        (s.ops.get(), s.bad.take())
    });
    if let Some((a, size, align)) = bad {
        return Err(format!("bad block {a:#x} for {size} B aligned {align}"));
    }
    Ok((out, ops))
}

/// True if [`Router`] is this binary's global allocator (it is in `bench`, not in tests).
fn router_installed() -> bool {
    struct Nothing;
    impl BenchHeap for Nothing {
        fn alloc(&mut self, _: Layout) -> *mut u8 {
            std::ptr::null_mut()
        }
        unsafe fn dealloc(&mut self, _: *mut u8, _: Layout) {}
        unsafe fn realloc(&mut self, _: *mut u8, _: Layout, _: usize) -> *mut u8 {
            std::ptr::null_mut()
        }
    }
    let layout = Layout::new::<u64>();
    let _ = with_heap(&mut Nothing, None, || {
        // SAFETY: a valid non-zero layout; a null result is not used.
        // `black_box`: the compiler may otherwise drop an unused allocation altogether.
        let p = black_box(unsafe { std::alloc::alloc(layout) });
        if !p.is_null() {
            // SAFETY: a routed heap that returned a block would have to take it back; the
            // `Nothing` heap never does, so this frees a system block when not routed.
            unsafe { std::alloc::dealloc(p, layout) };
        }
    });
    // `with_heap` zeroed the count; a routed allocation counts even though `Nothing` returns
    // null, one served by the system allocator does not.
    STATE.with(|s| {
        s.bad.set(None);
        s.ops.get() > 0
    })
}

// ---------------------------------------------------------------------------------------------
// The programs

/// A tree node. `Vec<Box<Node>>` on purpose: one heap block per node is the workload.
#[allow(clippy::vec_box)]
struct Node {
    value: u64,
    name: String,
    children: Vec<Box<Node>>,
}

/// The name of the node with `value`: 1..=100 bytes derived from it.
fn name_of(value: u64) -> String {
    let len = 1 + (value.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize % 100;
    let c = b'a' + (value % 26) as u8;
    String::from_utf8(vec![c; len]).expect("ASCII")
}

fn build(rng: &mut Rng, budget: &mut usize, depth: u32) -> Box<Node> {
    *budget -= 1;
    let value = rng.next_u64();
    let mut node = Box::new(Node { value, name: name_of(value), children: Vec::new() });
    let kids = if depth >= 16 { 0 } else { rng.below(7) };
    for _ in 0..kids {
        if *budget == 0 {
            break;
        }
        node.children.push(build(rng, budget, depth + 1));
    }
    node
}

/// Node count and value sum of a tree; `None` if a name does not match its value.
fn walk(node: &Node) -> Option<(usize, u64)> {
    if node.name != name_of(node.value) {
        return None;
    }
    let (mut n, mut sum) = (1, node.value);
    for c in &node.children {
        let (cn, cs) = walk(c)?;
        n += cn;
        sum = sum.wrapping_add(cs);
    }
    Some((n, sum))
}

/// Builds a forest (`Vec<Box<Node>>`) of exactly `n` nodes from `seed` and drops it; with
/// `check`, first walks it against a pure re-run of the RNG (names and value sum).
fn tree_once(seed: u64, n: usize, check: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut budget = n;
    let mut forest: Vec<Box<Node>> = Vec::new();
    while budget > 0 {
        forest.push(build(&mut rng, &mut budget, 0));
    }
    let walked = check.then(|| {
        forest.iter().try_fold((0, 0u64), |(n, s), t| {
            let (tn, ts) = walk(t)?;
            Some((n + tn, s.wrapping_add(ts)))
        })
    });
    drop(black_box(forest));
    let Some(walked) = walked else { return Ok(()) };
    let mut rng = Rng::new(seed);
    let mut budget = n;
    let mut expected = 0u64;
    while budget > 0 {
        expected = expected.wrapping_add(expected_sum(&mut rng, &mut budget, 0));
    }
    match walked {
        Some((count, sum)) if count == n && sum == expected => Ok(()),
        Some((count, _)) => Err(format!("forest holds {count} of {n} nodes or a wrong value")),
        None => Err("a node's name was corrupted".into()),
    }
}

/// `build`'s RNG sequence without allocating, summing the values.
fn expected_sum(rng: &mut Rng, budget: &mut usize, depth: u32) -> u64 {
    *budget -= 1;
    let mut sum = rng.next_u64();
    let kids = if depth >= 16 { 0 } else { rng.below(7) };
    for _ in 0..kids {
        if *budget == 0 {
            break;
        }
        sum = sum.wrapping_add(expected_sum(rng, budget, depth + 1));
    }
    sum
}

/// One step of the map churn.
#[derive(Clone, Copy)]
enum MapOp {
    Insert(u32),
    Remove(u32),
}

/// The seeded churn: `n` inserts, then `4 n` steps around `n` live keys, then removes of
/// every remaining key (so the map ends empty and the program frees all it allocated).
fn map_program(seed: u64, n: usize) -> Vec<MapOp> {
    let mut rng = Rng::new(seed);
    let mut live: Vec<u32> = Vec::with_capacity(2 * n);
    let mut ops = Vec::with_capacity(7 * n);
    let insert = |rng: &mut Rng, live: &mut Vec<u32>, ops: &mut Vec<MapOp>| {
        let k = rng.next_u64() as u32;
        ops.push(MapOp::Insert(k));
        live.push(k);
    };
    for _ in 0..n {
        insert(&mut rng, &mut live, &mut ops);
    }
    for _ in 0..4 * n {
        let p_insert = if live.len() < n { 0.6 } else { 0.4 };
        if live.is_empty() || rng.unit() < p_insert {
            insert(&mut rng, &mut live, &mut ops);
        } else {
            let k = live.swap_remove(rng.below(live.len()));
            ops.push(MapOp::Remove(k));
        }
    }
    ops.extend(live.iter().map(|&k| MapOp::Remove(k)));
    ops
}

fn value_of(k: u32) -> [u64; 3] {
    let k = u64::from(k);
    [k, !k, k.wrapping_mul(0x9E37_79B9_7F4A_7C15)]
}

/// Runs the churn; checks every removed value and that the map ends empty.
fn btree_once(program: &[MapOp]) -> Result<(), String> {
    let mut map: BTreeMap<u32, Box<[u64; 3]>> = BTreeMap::new();
    let mut bad = 0usize;
    for op in program {
        match *op {
            MapOp::Insert(k) => {
                // A duplicate key replaces the value (and frees the old box).
                map.insert(k, Box::new(value_of(k)));
            }
            MapOp::Remove(k) => match map.remove(&k) {
                Some(v) if *v == value_of(k) => {}
                // A duplicate key was removed by an earlier remove: absent is fine.
                None => {}
                Some(_) => bad += 1,
            },
        }
    }
    let left = map.len();
    drop(black_box(map));
    if bad > 0 || left > 0 {
        return Err(format!("{bad} corrupted values, {left} keys left"));
    }
    Ok(())
}

/// Runs `program` against `alloc`: one checked warm-up pass, then `reps` timed passes, each a
/// fresh run of the whole program (build and teardown, or fill, churn and drain). The timed
/// passes skip the tree walk; the map checks every removed value in every pass.
pub fn small_objects(
    alloc: &NamedAllocator,
    arena: &mut Arena,
    program: Program,
    n: usize,
    reps: usize,
    seed: u64,
) -> Outcome<SmallObjects> {
    if !alloc.frees {
        return Outcome::Unavailable(NOT_APPLICABLE.into());
    }
    if !router_installed() {
        return Outcome::Unavailable("the bench router is not the global allocator".into());
    }
    let bounds = alloc.uses_arena.then(|| (arena.base().addr(), arena.base().addr() + arena.len()));
    let map_ops = map_program(seed, n);
    let mut heap = match (alloc.make)(arena) {
        Ok(h) => h,
        Err(e) => return Outcome::Unavailable(e),
    };
    let mut run = |check: bool| -> Result<(f64, u64), String> {
        let start = crate::timer::CpuStopwatch::start();
        let (res, ops) = with_heap(&mut *heap, bounds, || match program {
            Program::Tree => tree_once(seed, n, check),
            Program::BTree => btree_once(&map_ops),
        })?;
        let secs = start.elapsed().as_secs_f64();
        res?;
        Ok((secs, ops))
    };
    STATE.with(|s| s.max_request.set(0));
    if let Err(e) = run(true) {
        return Outcome::Failed(format!("check pass: {e}"));
    }
    let mut ops_per_sec = Vec::with_capacity(reps);
    let mut heap_ops = 0;
    for _ in 0..reps {
        match run(false) {
            Ok((secs, ops)) => {
                ops_per_sec.push(ops as f64 / secs);
                heap_ops = ops;
            }
            Err(e) => return Outcome::Failed(e),
        }
    }
    Outcome::Ok(SmallObjects {
        ops_per_sec,
        heap_ops,
        max_request: STATE.with(|s| s.max_request.get()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_once_with_system_allocator_checks_out() {
        assert_eq!(tree_once(3, 500, true), Ok(()));
    }

    #[test]
    fn btree_once_with_system_allocator_ends_empty() {
        assert_eq!(btree_once(&map_program(3, 300)), Ok(()));
    }

    #[test]
    fn router_not_installed_in_tests_is_detected() {
        assert!(!router_installed());
    }
}
