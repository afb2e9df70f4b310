use core::cell::Cell;

use critical_section::{Mutex, RestoreState};

use super::RawLock;

/// A [`RawLock`] that enters a [`critical-section`](https://docs.rs/critical-section): on a
/// single-core MCU, interrupts are masked while the heap is used, so an interrupt handler that
/// allocates simply runs after the heap call finishes.
///
/// A call that re-enters (an allocation from inside the heap call, on the same core) is detected
/// with a flag and fails instead of corrupting the heap. The critical-section implementation
/// must be a real cross-core lock on multi-core chips (the crate's `restore-state` contract).
pub struct CriticalSection {
    busy: Mutex<Cell<bool>>,
}

impl CriticalSection {
    /// An unlocked lock.
    pub const fn new() -> Self {
        CriticalSection { busy: Mutex::new(Cell::new(false)) }
    }
}

impl Default for CriticalSection {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: between `acquire` and `release` we are inside a critical section, which excludes every
// other context (the critical-section crate's guarantee). Critical sections nest, so a
// re-entrant `acquire` on the same core gets in, sees `busy`, and backs out with `None`.
unsafe impl RawLock for CriticalSection {
    const INIT: Self = CriticalSection::new();
    type State = RestoreState;

    fn acquire(&self) -> Option<RestoreState> {
        // SAFETY: every path below pairs this `acquire` with exactly one `release`, either here
        // (re-entry) or in `RawLock::release`.
        let state = unsafe { critical_section::acquire() };
        // SAFETY: we are inside the critical section just acquired.
        let cs = unsafe { critical_section::CriticalSection::new() };
        if self.busy.borrow(cs).replace(true) {
            // SAFETY: `state` comes from the `acquire` above and is released once.
            unsafe { critical_section::release(state) };
            return None;
        }
        Some(state)
    }

    unsafe fn release(&self, state: RestoreState) {
        // SAFETY: the caller holds the critical section taken by the matching `acquire`.
        let cs = unsafe { critical_section::CriticalSection::new() };
        self.busy.borrow(cs).set(false);
        // SAFETY: caller contract: `state` comes from the matching `acquire`, released once.
        unsafe { critical_section::release(state) };
    }
}
