//! loom models (RELIABILITY.md F2, R7): every interleaving, under the C11 memory model, of
//!
//! - the [`Spin`] lock: mutual exclusion and happens-before between critical sections;
//! - the re-entry detectors: [`Spin::with_core_id`]'s owner word and [`CriticalSection`]'s busy
//!   flag: a nested `lock` on the same thread gets `None` at once, while a concurrent thread is
//!   never refused;
//! - [`AtomicBump`]'s compare-and-swap: concurrent allocations are disjoint and in the region,
//!   last-block reclaim never hands out a byte twice, and an allocation racing the `claim`
//!   sees either no memory or the whole region.
//!
//! The crate's `spin.rs` and `bump.rs` use loom's atomics under `--cfg loom`; the protected
//! data is a `loom::cell::UnsafeCell`, so loom reports any access the lock fails to order.
//! Each model prints how many interleavings it explored. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release` (`cargo xtask test`).
#![cfg(loom)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

use bareheap::{AtomicBump, CriticalSection, Locked, RawLock, Region, Spin};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Runs `model` under loom and prints the number of interleavings explored.
fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) {
    static RUNS: StdAtomicUsize = StdAtomicUsize::new(0);
    RUNS.store(0, std::sync::atomic::Ordering::Relaxed);
    loom::model(move || {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    let runs = RUNS.load(std::sync::atomic::Ordering::Relaxed);
    let bound = std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "unbounded".into());
    println!("loom model {name}: {runs} interleavings explored (max preemptions {bound})");
    assert!(runs > 1, "{name}: loom explored a single interleaving; the model is vacuous");
}

/// The id of the calling loom thread: its name (`"1"`, `"2"`, ...) or 0 for the main thread.
fn thread_id() -> usize {
    thread::current().name().and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn spawn_named<T: Send + 'static>(
    id: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new().name(id.to_string()).spawn(f).expect("spawn")
}

/// Critical sections per thread in [`counter_model`].
const ROUNDS: usize = 2;

/// `threads` threads each take the lock twice through `Locked` and increment a counter that
/// only the lock protects; with `nested`, each also tries a nested `lock` inside, which must be
/// refused.
fn counter_model<L: RawLock + Sync + Send + 'static>(
    make: fn() -> L,
    threads: usize,
    nested: bool,
) {
    let locked = Arc::new(Locked::with_lock(make(), UnsafeCell::new(0usize)));
    let handles: Vec<_> = (1..=threads)
        .map(|id| {
            let locked = Arc::clone(&locked);
            spawn_named(id, move || {
                for _ in 0..ROUNDS {
                    let inner = locked.lock(|counter| {
                        // SAFETY: inside the lock; loom checks that no other access overlaps.
                        counter.with_mut(|c| unsafe { *c += 1 });
                        nested.then(|| locked.lock(|_| ()).is_none())
                    });
                    let inner = inner.expect("a concurrent thread must never be refused");
                    if let Some(refused) = inner {
                        assert!(refused, "a nested lock on the same thread must be refused");
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    let total = locked.lock(|counter| {
        counter.with(|c| {
            // SAFETY: all threads joined; we hold the lock.
            unsafe { *c }
        })
    });
    assert_eq!(total, Some(threads * ROUNDS), "every increment must survive");
}

#[test]
fn cat_f2_loom_spin_lock_excludes_and_orders_two_threads() {
    explore("Spin: 2 threads increment under the lock", || {
        counter_model(Spin::new, 2, false);
    });
}

/// A spin lock whose acquire and release are `Relaxed`: critical sections are not ordered.
struct RelaxedSpin(AtomicBool);

// SAFETY: none, on purpose: the planted ordering bug of the negative control below.
unsafe impl RawLock for RelaxedSpin {
    const INIT: Self = panic!("build with RelaxedSpin::new()");
    type State = ();

    fn acquire(&self) -> Option<()> {
        while self.0.compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            thread::yield_now();
        }
        Some(())
    }

    unsafe fn release(&self, _: ()) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Negative control: loom must find the unordered access a `Relaxed` lock allows.
#[test]
#[should_panic(expected = "Causality violation")]
fn cat_f2_loom_control_relaxed_spin_lock_is_reported() {
    loom::model(|| counter_model(|| RelaxedSpin(AtomicBool::new(false)), 2, false));
}

#[test]
fn cat_f2_f3_loom_spin_core_id_refuses_nested_lock_and_never_a_concurrent_one() {
    explore("Spin::with_core_id: nested lock refused, 2 threads", || {
        counter_model(|| Spin::with_core_id(thread_id), 2, true);
    });
}

loom::lazy_static! {
    /// The lock of the loom critical-section implementation below.
    static ref CS_LOCKED: AtomicBool = AtomicBool::new(false);
}

loom::thread_local! {
    /// How deeply the current loom thread is nested in critical sections.
    static CS_DEPTH: Cell<usize> = Cell::new(0);
}

/// A critical section for loom threads: a global spin lock, taken on the outermost entry, so
/// sections nest on one thread (as masking interrupts does on an MCU) and exclude other threads.
struct LoomCriticalSection;
critical_section::set_impl!(LoomCriticalSection);

// SAFETY: the outermost `acquire` of a thread takes `CS_LOCKED` (Acquire) and its matching
// `release` gives it back (Release); nested sections only count, so sections of different
// threads never overlap and are ordered.
unsafe impl critical_section::Impl for LoomCriticalSection {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        CS_DEPTH.with(|depth| {
            if depth.get() == 0 {
                while CS_LOCKED
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    thread::yield_now();
                }
            }
            depth.set(depth.get() + 1);
        });
    }

    unsafe fn release(_: critical_section::RawRestoreState) {
        CS_DEPTH.with(|depth| {
            depth.set(depth.get() - 1);
            if depth.get() == 0 {
                CS_LOCKED.store(false, Ordering::Release);
            }
        });
    }
}

#[test]
fn cat_f2_f3_loom_critical_section_busy_flag_refuses_nested_lock_and_never_a_concurrent_one() {
    explore("CriticalSection: busy flag, nested lock refused, 2 threads", || {
        counter_model(CriticalSection::new, 2, true);
    });
}

/// A region of `len` bytes that lives for the rest of the process (`Region`'s contract).
fn leaked_region(len: usize) -> (usize, Region) {
    let memory: &'static mut [u8] = Box::leak(vec![0u8; len].into_boxed_slice());
    let base = memory.as_mut_ptr();
    // SAFETY: `memory` is leaked, so valid and unused by anyone else for the rest of the process.
    let region = unsafe { Region::new(base, len) }.expect("region");
    (base.addr(), region)
}

#[test]
fn cat_f2_loom_atomic_bump_concurrent_allocs_and_last_block_reclaim_never_overlap() {
    explore("AtomicBump: 2 allocating threads, one frees its block", || {
        let bump = Arc::new(AtomicBump::new());
        let (base, region) = leaked_region(64);
        bump.claim(region).expect("claim");
        let layout = Layout::from_size_align(16, 8).expect("layout");
        let worker = |id: usize, free: bool| {
            let bump = Arc::clone(&bump);
            spawn_named(id, move || {
                // SAFETY: `layout` has a non-zero size.
                let p = unsafe { bump.alloc(layout) };
                assert!(!p.is_null(), "64 bytes hold two 16-byte blocks");
                if free {
                    // SAFETY: `p` was allocated above with `layout` and is freed once.
                    unsafe { bump.dealloc(p, layout) };
                    None
                } else {
                    Some(p.addr())
                }
            })
        };
        let (a, b) = (worker(1, true), worker(2, false));
        let (_, kept) = (a.join().expect("join"), b.join().expect("join"));
        let kept = kept.expect("thread 2 keeps its block");
        // The kept block is in the region and below `next`; a new block must come after it.
        assert!(kept >= base && kept + 16 <= base + 64, "block outside the region");
        assert_eq!((kept - base) % 8, 0, "misaligned block");
        assert!(bump.used() >= kept + 16 - base, "next is below a live block: reuse possible");
        // SAFETY: `layout` has a non-zero size.
        let c = unsafe { bump.alloc(layout) };
        if !c.is_null() {
            assert!(c.addr() >= kept + 16 || c.addr() + 16 <= kept, "new block overlaps");
        }
        bump.validate().expect("validate");
    });
}

#[test]
fn cat_f2_loom_atomic_bump_alloc_racing_claim_sees_no_memory_or_the_whole_region() {
    explore("AtomicBump: alloc racing claim", || {
        let bump = Arc::new(AtomicBump::new());
        let (base, region) = leaked_region(32);
        let other = {
            let bump = Arc::clone(&bump);
            spawn_named(1, move || {
                let layout = Layout::from_size_align(8, 8).expect("layout");
                // SAFETY: `layout` has a non-zero size.
                unsafe { bump.alloc(layout) }.addr()
            })
        };
        bump.claim(region).expect("claim");
        let p = other.join().expect("join");
        assert!(p == 0 || (p >= base && p + 8 <= base + 32), "block outside the region: {p:#x}");
    });
}
