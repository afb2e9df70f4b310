#[cfg(not(loom))]
use core::hint::spin_loop;
#[cfg(not(loom))]
use core::sync::atomic::{AtomicUsize, Ordering};
// The loom models (crates/bareheap-testkit/loom) build this file with loom's atomics, whose
// constructors are not `const`; nothing else changes.
#[cfg(loom)]
use loom::{
    hint::spin_loop,
    sync::atomic::{AtomicUsize, Ordering},
};

use super::RawLock;

/// A test-and-test-and-set spin lock for multi-core kernels and hosted programs.
///
/// **Not interrupt-safe by itself**: an interrupt handler that allocates while its own core
/// holds the lock cannot make progress. Build the lock with [`Spin::with_core_id`] and that
/// case is detected: the handler's allocation fails (null) instead of spinning forever.
/// Without a core id, same-core re-entry deadlocks; prefer [`CriticalSection`] on MCUs, or
/// mask interrupts around heap use.
///
/// # Invariants
///
/// - **SP1** One word is the whole lock: `state` is 0 when free, otherwise the holder's
///   `core_id() + 1` (or `ANONYMOUS` without a core id). Taking the lock and recording the
///   owner is one compare-and-swap, releasing it one store, so an interrupt that arrives at
///   any instruction of `acquire` or `release` sees either "free" or "held by me", never a
///   held lock without its owner (which it would spin on forever).
///
/// [`CriticalSection`]: crate::CriticalSection
pub struct Spin {
    state: AtomicUsize,
    core_id: Option<fn() -> usize>,
}

/// `state` of a lock held by a context without a core id (never compared with an id).
const ANONYMOUS: usize = usize::MAX;

impl Spin {
    /// An unlocked spin lock without re-entry detection.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Spin { state: AtomicUsize::new(0), core_id: None }
    }

    /// An unlocked spin lock that detects re-entry: `core_id` returns an identifier of the
    /// calling core or thread (e.g. the hart id, an APIC id, a thread-local address), which
    /// must be below `usize::MAX` and distinct for contexts that can run at the same time.
    #[cfg(not(loom))]
    pub const fn with_core_id(core_id: fn() -> usize) -> Self {
        Spin { state: AtomicUsize::new(0), core_id: Some(core_id) }
    }

    /// [`Spin::new`] under loom (not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Spin { state: AtomicUsize::new(0), core_id: None }
    }

    /// [`Spin::with_core_id`] under loom (not `const`).
    #[cfg(loom)]
    pub fn with_core_id(core_id: fn() -> usize) -> Self {
        Spin { state: AtomicUsize::new(0), core_id: Some(core_id) }
    }
}

impl Default for Spin {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `state` goes from 0 to non-zero only through a successful `compare_exchange`
// (Acquire), and back only in `release` (Release), so holders are exclusive and see each
// other's writes. `state` equals our id only if this context's compare-and-swap stored it and
// it has not released since (SP1): no other context stores our id, so `acquire` returns
// `None` only to a context that holds the lock, and a context that holds it never spins on it.
unsafe impl RawLock for Spin {
    #[cfg(not(loom))]
    const INIT: Self = Spin::new();
    // Loom's atomics cannot be built in a constant: the models use `Locked::with_lock`.
    #[cfg(loom)]
    const INIT: Self = panic!("under loom, build the lock with Spin::new()");
    type State = ();

    fn acquire(&self) -> Option<()> {
        let me = match self.core_id {
            Some(id) => {
                let me = id().wrapping_add(1);
                if self.state.load(Ordering::Relaxed) == me {
                    return None;
                }
                me
            }
            None => ANONYMOUS,
        };
        while self.state.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_err()
        {
            while self.state.load(Ordering::Relaxed) != 0 {
                spin_loop();
            }
        }
        Some(())
    }

    unsafe fn release(&self, _: ()) {
        self.state.store(0, Ordering::Release);
    }
}
