//! NEGATIVE CONTROL of the host interrupt model (RELIABILITY.md R8): with the `critical-section`
//! crate's `std` implementation (a mutex plus a thread-local "held" flag, which a signal
//! handler on the same thread walks straight through) the handler must find the heap busy.
//! If it never does, the model does not interrupt heap calls and its zero-re-entry result with
//! a real critical section (`isr/tests/sigmask.rs`, run by `cargo xtask test`) would mean
//! nothing.
#![cfg(all(feature = "host-isr", unix))]

use std::time::Duration;

use bareheap::{CriticalSection, FirstFit, Locked};
use bareheap_testkit::{isr, Arena};

#[test]
fn isr_model_std_critical_section_shows_reentries() {
    let mut arena = Arena::new(1 << 20);
    let heap: Locked<CriticalSection, FirstFit> = Locked::new(FirstFit::new());
    // SAFETY: the arena outlives `heap` (declared earlier) and is not refilled.
    heap.claim(unsafe { arena.region(0, 1 << 20) }.expect("region")).expect("claim");
    // A slower timer in debug builds, where the handler is slow, so the main loop still runs.
    let period = Duration::from_micros(if cfg!(debug_assertions) { 250 } else { 50 });
    let (stats, validated) = isr::run(&heap, period, Duration::from_secs(1));
    eprintln!("isr model, std critical-section (negative control): {stats:?}");
    assert!(stats.reentries > 0, "the std impl must show re-entries: {stats:?}");
    // The wrapper's busy flag keeps the heap consistent even then.
    assert_eq!(validated, Ok(()));
    assert_eq!(stats.corrupt_payloads, 0);
}
