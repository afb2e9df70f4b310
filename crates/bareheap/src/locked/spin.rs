#[cfg(not(loom))]
use core::hint::spin_loop;
#[cfg(not(loom))]
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
// The loom models (crates/bareheap-testkit/loom) build this file with loom's atomics, whose
// constructors are not `const`; nothing else changes.
#[cfg(loom)]
use loom::{
    hint::spin_loop,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
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
/// [`CriticalSection`]: crate::CriticalSection
pub struct Spin {
    locked: AtomicBool,
    /// `core_id() + 1` of the holder, or 0. Only the holder writes a non-zero value.
    owner: AtomicUsize,
    core_id: Option<fn() -> usize>,
}

impl Spin {
    /// An unlocked spin lock without re-entry detection.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Spin { locked: AtomicBool::new(false), owner: AtomicUsize::new(0), core_id: None }
    }

    /// An unlocked spin lock that detects re-entry: `core_id` returns an identifier of the
    /// calling core or thread (e.g. the hart id, an APIC id, a thread-local address), which
    /// must be below `usize::MAX` and distinct for contexts that can run at the same time.
    #[cfg(not(loom))]
    pub const fn with_core_id(core_id: fn() -> usize) -> Self {
        Spin { locked: AtomicBool::new(false), owner: AtomicUsize::new(0), core_id: Some(core_id) }
    }

    /// [`Spin::new`] under loom (not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Spin { locked: AtomicBool::new(false), owner: AtomicUsize::new(0), core_id: None }
    }

    /// [`Spin::with_core_id`] under loom (not `const`).
    #[cfg(loom)]
    pub fn with_core_id(core_id: fn() -> usize) -> Self {
        Spin { locked: AtomicBool::new(false), owner: AtomicUsize::new(0), core_id: Some(core_id) }
    }
}

impl Default for Spin {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `locked` goes false→true only through a successful `compare_exchange` (Acquire), and
// back only in `release` (Release), so holders are exclusive and see each other's writes.
// `owner` equals our id only if this context stored it while holding the lock and has not
// released since: no other context stores our id, and our own stores are seen in order.
unsafe impl RawLock for Spin {
    #[cfg(not(loom))]
    const INIT: Self = Spin::new();
    // Loom's atomics cannot be built in a constant: the models use `Locked::with_lock`.
    #[cfg(loom)]
    const INIT: Self = panic!("under loom, build the lock with Spin::new()");
    type State = ();

    fn acquire(&self) -> Option<()> {
        let me = self.core_id.map(|id| id().wrapping_add(1));
        if let Some(me) = me {
            if self.owner.load(Ordering::Relaxed) == me {
                return None;
            }
        }
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
        if let Some(me) = me {
            self.owner.store(me, Ordering::Relaxed);
        }
        Some(())
    }

    unsafe fn release(&self, _: ()) {
        self.owner.store(0, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
    }
}
