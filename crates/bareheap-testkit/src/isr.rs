//! A host model of an interrupt that allocates (RELIABILITY.md R8): a `SIGALRM` handler, fired
//! by `setitimer` every few tens of microseconds, allocates and frees through a shared heap
//! while the main loop allocates and frees through the same heap.
//!
//! The signal handler runs on the main thread, interrupting it anywhere, exactly like an
//! interrupt on a single-core MCU. Whether the heap survives depends on the lock: a
//! critical section that masks `SIGALRM` (the model of masking interrupts) must give zero
//! re-entries; one that does not (the `critical-section` crate's `std` implementation, a mutex
//! with a thread-local "held" flag, through which the handler walks right in) must show them.
//!
//! A re-entry is counted when the handler's `Locked::lock` returns `None`: the wrapper found
//! the heap busy. (A lock that let the handler in anyway would corrupt the heap, which
//! `validate()` and the payload checks catch.)

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use core::time::Duration;

use bareheap::{Heap, Locked, RawLock};

/// Handler steps (each a free and an allocation) per interrupt.
const ISR_BURST: usize = 8;
/// Live blocks the handler keeps (freed round-robin).
const ISR_SLOTS: usize = 16;

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IsrStats {
    /// Signal deliveries.
    pub interrupts: u64,
    /// Heap operations (allocations and frees) completed in the handler.
    pub isr_ops: u64,
    /// Heap operations completed by the main loop.
    pub main_ops: u64,
    /// Handler calls that found the heap busy (`Locked::lock` returned `None`).
    pub reentries: u64,
    /// Payload bytes that did not hold their pattern (must be 0).
    pub corrupt_payloads: u64,
}

/// The state the handler reaches through statics (a handler takes no arguments).
struct Shared {
    /// Type-erased `&Locked<L, H>` and the monomorphic step that uses it.
    heap: AtomicPtr<()>,
    step: AtomicPtr<()>,
    running: AtomicBool,
    /// The `pthread_t` of the thread running the model.
    thread: AtomicU64,
    interrupts: AtomicU64,
    isr_ops: AtomicU64,
    reentries: AtomicU64,
    corrupt: AtomicU64,
    slots: [AtomicPtr<u8>; ISR_SLOTS],
    next: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const NULL_SLOT: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());

static SHARED: Shared = Shared {
    heap: AtomicPtr::new(ptr::null_mut()),
    step: AtomicPtr::new(ptr::null_mut()),
    running: AtomicBool::new(false),
    thread: AtomicU64::new(0),
    interrupts: AtomicU64::new(0),
    isr_ops: AtomicU64::new(0),
    reentries: AtomicU64::new(0),
    corrupt: AtomicU64::new(0),
    slots: [NULL_SLOT; ISR_SLOTS],
    next: AtomicU64::new(0),
};

/// The layout of the handler's block number `n`: 16 to 256 bytes, alignment 8 to 64.
fn isr_layout(n: u64) -> Layout {
    let size = 16 + (n.wrapping_mul(37) % 241) as usize;
    let align = 8usize << (n % 4);
    Layout::from_size_align(size, align).unwrap_or(Layout::new::<u64>())
}

/// Fills (or, with `verify`, checks) `len` bytes at `p` with the pattern of `tag`; returns the
/// number of wrong bytes.
///
/// # Safety
///
/// `p` is valid for reads and writes of `len` bytes, and nothing else accesses them.
unsafe fn pattern(p: *mut u8, len: usize, tag: u64, verify: bool) -> u64 {
    let mut wrong = 0;
    for i in 0..len {
        let want = (tag as usize).wrapping_mul(131).wrapping_add(i) as u8;
        // SAFETY: `i < len`, inside the block (the caller's contract).
        let b = unsafe { p.add(i) };
        if verify {
            // SAFETY: as above.
            if unsafe { b.read_volatile() } != want {
                wrong += 1;
            }
        } else {
            // SAFETY: as above.
            unsafe { b.write_volatile(want) };
        }
    }
    wrong
}

/// One handler step on `Locked<L, H>`, each in a lock of its own: free the block in the next slot (checking its payload),
/// then allocate a new one there.
///
/// # Safety
///
/// `SHARED.heap` points to a live `Locked<L, H>`.
unsafe fn isr_step<L: RawLock, H: Heap>() {
    let heap_ptr = SHARED.heap.load(Ordering::Acquire).cast::<Locked<L, H>>().cast_const();
    // SAFETY: the caller's contract: the pointer is a live `Locked<L, H>` (`run` clears it before
    // the heap goes away, with the timer stopped and the signal blocked).
    let heap = unsafe { &*heap_ptr };
    let n = SHARED.next.fetch_add(1, Ordering::Relaxed);
    let slot = &SHARED.slots[(n % ISR_SLOTS as u64) as usize];
    let old = slot.load(Ordering::Relaxed);
    let layout = isr_layout(n);
    let r = heap.lock(|h| {
        let mut ops = 0;
        if let Some(old) = NonNull::new(old) {
            // The old block's number is `n - ISR_SLOTS`.
            let old_n = n.wrapping_sub(ISR_SLOTS as u64);
            let ol = isr_layout(old_n);
            // SAFETY: the handler allocated `old` with `ol` and is its only user.
            let wrong = unsafe { pattern(old.as_ptr(), ol.size(), old_n, true) };
            SHARED.corrupt.fetch_add(wrong, Ordering::Relaxed);
            // SAFETY: `old` is live with `ol`, freed once (the slot is overwritten below).
            unsafe { h.deallocate(old, ol) };
            ops += 1;
        }
        let new = h.allocate(layout);
        (new, ops + 1)
    });
    match r {
        Some((new, ops)) => {
            let new = new.map_or(ptr::null_mut(), NonNull::as_ptr);
            if !new.is_null() {
                // SAFETY: a fresh block of `layout`, the handler's alone.
                unsafe { pattern(new, layout.size(), n, false) };
            }
            slot.store(new, Ordering::Relaxed);
            SHARED.isr_ops.fetch_add(ops, Ordering::Relaxed);
        }
        None => {
            // Busy: the slot keeps its old block, numbered as if this step had not happened.
            SHARED.next.fetch_sub(1, Ordering::Relaxed);
            SHARED.reentries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

extern "C" fn on_alarm(_signal: libc::c_int) {
    // `ITIMER_REAL` signals the process, so any thread may get it (a test harness runs tests
    // on a thread of their own). An interrupt interrupts the model's thread: forward it there.
    // SAFETY: `pthread_self` has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let target = SHARED.thread.load(Ordering::Acquire) as libc::pthread_t;
    if me != target {
        if SHARED.running.load(Ordering::Acquire) {
            // SAFETY: `target` is the model's thread, alive while `running` is true (`run`
            // clears `running` and stops the timer before it returns).
            unsafe { libc::pthread_kill(target, libc::SIGALRM) };
        }
        return;
    }
    SHARED.interrupts.fetch_add(1, Ordering::Relaxed);
    if !SHARED.running.load(Ordering::Acquire) {
        return;
    }
    let step = SHARED.step.load(Ordering::Acquire);
    if step.is_null() {
        return;
    }
    // SAFETY: `step` was stored by `run` from an `unsafe fn()` of exactly this type.
    let step: unsafe fn() = unsafe { core::mem::transmute::<*mut (), unsafe fn()>(step) };
    for _ in 0..ISR_BURST {
        // SAFETY: `running` is true only while `SHARED.heap` points to the live heap of `run`.
        unsafe { step() };
    }
}

/// Signal deliveries handled so far in the current (or last) run: a watchdog that sees it
/// stand still while the timer runs has found a handler that never returns (a deadlock).
pub fn interrupts_so_far() -> u64 {
    SHARED.interrupts.load(Ordering::Relaxed)
}

/// Sets the interval timer to `period` (zero stops it).
fn set_timer(period: Duration) {
    let tv = libc::timeval {
        tv_sec: period.as_secs() as libc::time_t,
        tv_usec: period.subsec_micros() as libc::suseconds_t,
    };
    let it = libc::itimerval { it_interval: tv, it_value: tv };
    // SAFETY: `it` is a valid `itimerval`; the old value is not wanted (null).
    let rc = unsafe { libc::setitimer(libc::ITIMER_REAL, &it, ptr::null_mut()) };
    assert_eq!(rc, 0, "setitimer failed");
}

/// Runs the model for `duration`: the main loop allocates and frees through `heap` (blocks of
/// 8 to 512 bytes, 64 live, payloads checked) while `SIGALRM` fires every `period` and the
/// handler allocates and frees through `heap` too. At the end the timer is stopped, every
/// block freed and `validate()` called; its result is returned with the counters.
///
/// Call it from one thread at a time (it installs a process-wide handler and timer).
pub fn run<L: RawLock + Sync, H: Heap + Send>(
    heap: &Locked<L, H>,
    period: Duration,
    duration: Duration,
) -> (IsrStats, Result<(), bareheap::Corruption>) {
    // Reset the shared state.
    SHARED.interrupts.store(0, Ordering::Relaxed);
    SHARED.isr_ops.store(0, Ordering::Relaxed);
    SHARED.reentries.store(0, Ordering::Relaxed);
    SHARED.corrupt.store(0, Ordering::Relaxed);
    SHARED.next.store(0, Ordering::Relaxed);
    SHARED.heap.store(ptr::from_ref(heap).cast_mut().cast(), Ordering::Release);
    let step: unsafe fn() = isr_step::<L, H>;
    SHARED.step.store(step as *mut (), Ordering::Release);
    // SAFETY: `pthread_self` has no preconditions.
    SHARED.thread.store(unsafe { libc::pthread_self() } as u64, Ordering::Release);
    SHARED.running.store(true, Ordering::Release);

    // SAFETY: a zeroed `sigaction` is a valid starting value; the handler is an
    // `extern "C" fn(c_int)` (no SA_SIGINFO), and SA_RESTART keeps syscalls working.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGALRM, &sa, ptr::null_mut()), 0, "sigaction failed");
    }
    set_timer(period);

    const LIVE: usize = 64;
    let mut live: [(Option<NonNull<u8>>, Layout, u64); LIVE] =
        [(None, Layout::new::<u8>(), 0); LIVE];
    let mut main_ops = 0u64;
    let mut corrupt = 0u64;
    let mut rng = fastrand::Rng::with_seed(0x15a);
    let end = now() + duration;
    let mut n = 0u64;
    while now() < end {
        for _ in 0..256 {
            n += 1;
            let i = rng.usize(0..LIVE);
            let (block, layout, tag) = live[i];
            if let Some(p) = block {
                let p = p.as_ptr();
                // SAFETY: block `i` is live with `layout` and ours alone.
                corrupt += unsafe { pattern(p, layout.size(), tag, true) };
                // SAFETY: allocated from `heap` with `layout`, freed once.
                unsafe { core::alloc::GlobalAlloc::dealloc(heap, p, layout) };
                live[i].0 = None;
                main_ops += 1;
            } else {
                let layout = Layout::from_size_align(8 + rng.usize(0..=504), 8 << rng.u32(0..3))
                    .unwrap_or(Layout::new::<u64>());
                // SAFETY: `layout` has a non-zero size.
                let p = unsafe { core::alloc::GlobalAlloc::alloc(heap, layout) };
                main_ops += 1;
                if let Some(p) = NonNull::new(p) {
                    // SAFETY: a fresh block of `layout`, ours alone.
                    unsafe { pattern(p.as_ptr(), layout.size(), n, false) };
                    live[i] = (Some(p), layout, n);
                }
            }
        }
    }

    // Stop the interrupt before tearing down.
    set_timer(Duration::ZERO);
    SHARED.running.store(false, Ordering::Release);
    for (block, layout, tag) in live {
        if let Some(p) = block {
            let p = p.as_ptr();
            // SAFETY: live with `layout`, ours alone.
            corrupt += unsafe { pattern(p, layout.size(), tag, true) };
            // SAFETY: allocated from `heap` with `layout`, freed once.
            unsafe { core::alloc::GlobalAlloc::dealloc(heap, p, layout) };
        }
    }
    for (k, slot) in SHARED.slots.iter().enumerate() {
        let p = slot.swap(ptr::null_mut(), Ordering::Relaxed);
        if let Some(p) = NonNull::new(p) {
            // The block in slot `k` has the largest number `m < next` with `m % ISR_SLOTS == k`.
            let next = SHARED.next.load(Ordering::Relaxed);
            let m = (next - 1) - ((next - 1 + ISR_SLOTS as u64 - k as u64) % ISR_SLOTS as u64);
            let layout = isr_layout(m);
            corrupt += heap
                .lock(|h| {
                    // SAFETY: the handler allocated `p` with `layout`; it is stopped.
                    let wrong = unsafe { pattern(p.as_ptr(), layout.size(), m, true) };
                    // SAFETY: live with `layout`, freed once.
                    unsafe { h.deallocate(p, layout) };
                    wrong
                })
                .unwrap_or(0);
        }
    }
    SHARED.heap.store(ptr::null_mut(), Ordering::Release);
    let validated = heap.lock(|h| h.validate()).unwrap_or(Err(bareheap::Corruption {
        what: "ISR model: lock still held after the run",
        addr: 0,
    }));
    let stats = IsrStats {
        interrupts: SHARED.interrupts.load(Ordering::Relaxed),
        isr_ops: SHARED.isr_ops.load(Ordering::Relaxed),
        main_ops,
        reentries: SHARED.reentries.load(Ordering::Relaxed),
        corrupt_payloads: corrupt + SHARED.corrupt.load(Ordering::Relaxed),
    };
    (stats, validated)
}

/// Monotonic time since an arbitrary start.
fn now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable `timespec`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
