//! A periodic timer interrupt whose handler calls a function of the test's choosing: SysTick on
//! Cortex-M, the CLINT machine timer on RISC-V (see [`crate::arch`]).

use core::cell::Cell;

use critical_section::Mutex;

use crate::board;

/// A function the interrupt handler calls.
type Tick = Option<fn()>;

/// What the interrupt handler calls.
static TICK: Mutex<Cell<Tick>> = Mutex::new(Cell::new(None));

/// Starts the timer: `tick` runs in interrupt context about every `period_us` microseconds of
/// the board's timer clock (`board::TIMER_HZ`; QEMU runs that clock in host time).
pub fn start(period_us: u32, tick: fn()) {
    critical_section::with(|cs| TICK.borrow(cs).set(Some(tick)));
    let ticks = u64::from(board::TIMER_HZ) * u64::from(period_us) / 1_000_000;
    crate::arch::start_timer(u32::try_from(ticks).unwrap_or(u32::MAX));
}

/// Stops the timer; `tick` is not called again.
pub fn stop() {
    crate::arch::stop_timer();
    critical_section::with(|cs| TICK.borrow(cs).set(None));
}

/// Called by the architecture's timer interrupt handler.
pub(crate) fn fire() {
    if let Some(tick) = critical_section::with(|cs| TICK.borrow(cs).get()) {
        tick();
    }
}
