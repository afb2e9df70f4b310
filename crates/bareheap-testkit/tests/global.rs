//! `Locked<Spin, FirstFit>` as this test binary's `#[global_allocator]`: everything the test
//! harness and std do (threads, channels, output capture, panics) allocates from our heap, on
//! top of the tests' own collections, threads with cross-thread frees, over-aligned types and
//! a panicking thread.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc;

use bareheap::{FirstFit, Heap, HeapMemory, Locked, Spin};

/// The heap's memory: a static buffer, handed out once.
static MEMORY: HeapMemory<{ 64 << 20 }> = HeapMemory::new();

#[global_allocator]
static GLOBAL: ClaimOnFirstUse = ClaimOnFirstUse::new();

/// A `Locked<Spin, FirstFit>` that claims `MEMORY` on the first allocation (the runtime
/// allocates before `main`, so there is no earlier place to do it).
struct ClaimOnFirstUse {
    heap: Locked<Spin, FirstFit>,
    /// 0: unclaimed, 1: claiming, 2: claimed.
    state: AtomicU8,
    /// Allocations served (for the check that the heap really is in use).
    allocs: AtomicU64,
}

impl ClaimOnFirstUse {
    const fn new() -> Self {
        ClaimOnFirstUse {
            heap: Locked::new(FirstFit::new()),
            state: AtomicU8::new(0),
            allocs: AtomicU64::new(0),
        }
    }

    fn ensure_claimed(&self) {
        if self.state.load(Ordering::Acquire) == 2 {
            return;
        }
        if self.state.compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire).is_ok() {
            // Claiming writes into MEMORY only and does not allocate.
            let claimed = MEMORY.take().map(|region| self.heap.claim(region));
            if !matches!(claimed, Some(Ok(_))) {
                std::process::abort();
            }
            self.state.store(2, Ordering::Release);
        }
        while self.state.load(Ordering::Acquire) != 2 {
            std::hint::spin_loop();
        }
    }

    fn in_heap(&self, addr: usize) -> bool {
        let start = std::ptr::from_ref(&MEMORY).addr();
        addr >= start && addr < start + (64 << 20)
    }
}

// SAFETY: forwards to `Locked`, a `GlobalAlloc`, after making sure it has its memory.
unsafe impl GlobalAlloc for ClaimOnFirstUse {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.ensure_claimed();
        self.allocs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded caller contract.
        unsafe { self.heap.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded caller contract (`ptr` came from `alloc`, so the heap is claimed).
        unsafe { self.heap.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { self.heap.realloc(ptr, layout, new_size) }
    }
}

fn validate() {
    GLOBAL.heap.lock(|h| h.validate()).expect("not re-entered").expect("heap validates");
}

const THREADS: usize = if cfg!(miri) { 2 } else { 4 };
const ROUNDS: usize = if cfg!(miri) { 20 } else { 1_000 };

#[test]
fn global_heap_serves_std_collections() {
    let before = GLOBAL.allocs.load(Ordering::Relaxed);
    let mut v: Vec<u64> = (0..1000).collect();
    let s: String = (0..500).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut map = BTreeMap::new();
    for i in 0..2000u32 {
        map.insert(i, i.to_string());
    }
    let mut q: VecDeque<Box<[u8]>> =
        (0..100).map(|i| vec![i as u8; i * 7].into_boxed_slice()).collect();
    v.retain(|x| x % 3 == 0);
    q.rotate_left(17);
    assert_eq!(v.len(), 334);
    assert_eq!(s.len(), 500);
    assert_eq!(map[&1999], "1999");
    assert!(q.iter().all(|b| b.iter().all(|&x| usize::from(x) * 7 == b.len())));
    assert!(GLOBAL.in_heap(v.as_ptr().addr()), "the Vec lives in our heap");
    assert!(GLOBAL.allocs.load(Ordering::Relaxed) > before + 2000, "allocations went through us");
    validate();
}

#[test]
fn global_heap_serves_over_aligned_types() {
    #[repr(align(4096))]
    struct Page([u8; 4096]);
    #[repr(align(64))]
    struct Line([u8; 64]);
    let pages: Vec<Box<Page>> = (0..8).map(|i| Box::new(Page([i; 4096]))).collect();
    let lines: Vec<Line> = (0..100).map(|i| Line([i; 64])).collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(std::ptr::from_ref(&**p).addr() % 4096, 0);
        assert!(p.0.iter().all(|&b| usize::from(b) == i));
    }
    assert_eq!(lines.as_ptr().addr() % 64, 0);
    assert!(lines.iter().enumerate().all(|(i, l)| l.0.iter().all(|&b| usize::from(b) == i)));
    assert!(GLOBAL.in_heap(lines.as_ptr().addr()));
    validate();
}

#[test]
fn global_heap_threads_with_cross_thread_frees() {
    // Each thread builds collections, keeps some, and sends boxes to the next thread, which
    // checks and frees them: every block is freed by a thread other than its allocator.
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Vec<u64>>()).unzip();
    let mut receivers: Vec<_> = receivers.into_iter().map(Some).collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let to_next = senders[(t + 1) % THREADS].clone();
            let from_prev = receivers[t].take().unwrap();
            std::thread::spawn(move || {
                let mut kept = BTreeMap::new();
                let mut received = 0usize;
                for r in 0..ROUNDS {
                    let n = (r * 7 + t) % 300;
                    let cookie = (t as u64) << 32 | r as u64;
                    to_next.send(vec![cookie; n]).unwrap();
                    kept.insert(r % 64, format!("{t}:{r}:{}", "x".repeat(r % 50)));
                    while let Ok(v) = from_prev.try_recv() {
                        assert!(v.windows(2).all(|w| w[0] == w[1]), "payload cookie changed");
                        received += 1;
                    }
                }
                drop(to_next);
                for v in from_prev {
                    assert!(v.windows(2).all(|w| w[0] == w[1]), "payload cookie changed");
                    received += 1;
                }
                assert_eq!(kept.len(), 64.min(ROUNDS));
                received
            })
        })
        .collect();
    drop(senders);
    let received: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(received, THREADS * ROUNDS, "every cross-thread block arrived");
    validate();
}

#[test]
fn global_heap_survives_a_panicking_thread() {
    // Keep the planted panic quiet (a captured backtrace would take seconds in debug); every
    // other panic still goes to the previous hook.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("planted panic") {
            previous(info);
        }
    }));
    let r = std::thread::spawn(|| {
        let v = vec![1u8; std::hint::black_box(1000)];
        // A runtime value in the message: the payload is a `String` from our heap.
        panic!("planted panic with {} bytes live", v.len());
    })
    .join();
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("planted panic"));
    validate();
}

#[test]
fn global_heap_out_of_memory_returns_null_and_try_reserve_fails_gracefully() {
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(128 << 20).is_err(), "more than the heap has");
    // SAFETY: non-zero size; the null result is not dereferenced.
    assert!(unsafe { GLOBAL.alloc(Layout::from_size_align(256 << 20, 8).unwrap()) }.is_null());
    v.push(1);
    validate();
}
