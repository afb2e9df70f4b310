//! The host interrupt model (RELIABILITY.md R8) with a valid interrupt lock: a
//! `critical_section::Impl` that blocks `SIGALRM` with `pthread_sigmask`, as an MCU masks
//! interrupts. A SIGALRM handler fires every 20 µs and allocates and frees through
//! `Locked<CriticalSection, H>` while the main loop does too: the handler must never find the
//! heap busy, every payload must survive and `validate()` must pass. The negative control (the
//! `std` impl, which must show re-entries) is the testkit's `tests/isr_std_control.rs`.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bareheap::{CriticalSection, FirstFit, Locked, Slab, Tlsf};
use bareheap_testkit::{isr, Arena, TestHeap};

/// Nesting depth of the critical section (only touched with SIGALRM blocked).
static DEPTH: AtomicU32 = AtomicU32::new(0);
/// Whether SIGALRM was already blocked when the outermost section was entered (inside the
/// handler it is), so leaving the section must not unblock it.
static WAS_BLOCKED: AtomicBool = AtomicBool::new(false);

struct SigMask;
critical_section::set_impl!(SigMask);

fn alarm_set() -> libc::sigset_t {
    // SAFETY: a zeroed `sigset_t` is valid storage for `sigemptyset` to initialize.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is valid, writable storage.
    unsafe { libc::sigemptyset(&mut set) };
    // SAFETY: `set` was initialized by `sigemptyset`; SIGALRM is a valid signal.
    unsafe { libc::sigaddset(&mut set, libc::SIGALRM) };
    set
}

// SAFETY: `acquire` blocks SIGALRM before anything else, so the handler (the model's only other
// context) cannot run until the outermost `release` unblocks it; nesting is counted in `DEPTH`,
// which only this thread touches with the signal blocked; the outermost `release` restores
// the mask the outermost `acquire` found (blocked inside the handler). The model is single-threaded.
unsafe impl critical_section::Impl for SigMask {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        let set = alarm_set();
        let mut old = set;
        // SAFETY: `set` is initialized and `old` is writable storage for the previous mask.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        debug_assert_eq!(rc, 0);
        if DEPTH.fetch_add(1, Ordering::Relaxed) == 0 {
            // SAFETY: `old` was filled by `pthread_sigmask`.
            let blocked = unsafe { libc::sigismember(&old, libc::SIGALRM) } == 1;
            WAS_BLOCKED.store(blocked, Ordering::Relaxed);
        }
    }

    unsafe fn release(_: critical_section::RawRestoreState) {
        if DEPTH.fetch_sub(1, Ordering::Relaxed) == 1 && !WAS_BLOCKED.load(Ordering::Relaxed) {
            let set = alarm_set();
            // SAFETY: `set` is initialized; leaving the outermost section unblocks SIGALRM.
            let rc =
                unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut()) };
            debug_assert_eq!(rc, 0);
        }
    }
}

/// Seconds per heap (override with `BAREHEAP_ISR_SECS`).
fn seconds() -> u64 {
    std::env::var("BAREHEAP_ISR_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(4)
}

fn isr_model<H: TestHeap + Send>() {
    const LEN: usize = 1 << 20;
    let mut arena = Arena::new(LEN);
    let heap: Locked<CriticalSection, H> = Locked::new(H::empty());
    // SAFETY: the arena outlives `heap` (declared earlier) and is not refilled.
    heap.claim(unsafe { arena.region(0, LEN) }.expect("region")).expect("claim");
    let (stats, validated) =
        isr::run(&heap, Duration::from_micros(20), Duration::from_secs(seconds()));
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "[{profile}] isr model Locked<CriticalSection(sigmask), {}> {} s: {stats:?}",
            H::NAME,
            seconds()
        );
    }
    assert_eq!(stats.reentries, 0, "a masked handler must never find the heap busy");
    assert_eq!(stats.corrupt_payloads, 0);
    assert_eq!(validated, Ok(()));
    assert!(stats.isr_ops >= 10_000 && stats.main_ops >= 1_000, "the model barely ran: {stats:?}");
    heap.lock(|h| h.validate()).expect("lock").expect("validate");
}

/// One test, so the heaps run one after another (the timer and handler are process-wide).
#[test]
fn cat_f3_isr_model_sigmask_critical_section_no_reentries_and_heaps_stay_valid() {
    isr_model::<FirstFit>();
    isr_model::<Tlsf>();
    isr_model::<Slab<FirstFit>>();
}
