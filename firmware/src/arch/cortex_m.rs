//! Cortex-M (ARMv6-M, ARMv7-M, ARMv7E-M, ARMv8-M Mainline): cortex-m-rt, Arm semihosting,
//! SysTick on the core clock.

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{exception, ExceptionFrame};

pub use cortex_m_rt::entry;

use crate::hprintln;

/// Ends the program: QEMU (or a semihosting debugger) exits with `status`.
///
/// Without a semihosting host the call does not return and the CPU parks here.
pub fn exit(status: u32) -> ! {
    let block = [super::APPLICATION_EXIT, status];
    // SAFETY: `SYS_EXIT_EXTENDED` reads the two-word parameter block `block` points to, which
    // lives until the call returns (it does not, under a semihosting host).
    unsafe { cortex_m_semihosting::syscall(super::SYS_EXIT_EXTENDED, &block) };
    loop {
        cortex_m::asm::wfi();
    }
}

/// Executes a permanently undefined instruction: the core takes a HardFault.
pub fn undefined_instruction() -> ! {
    cortex_m::asm::udf()
}

/// Prints where the fault happened and exits with [`EXIT_HARDFAULT`](crate::EXIT_HARDFAULT).
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("\nHARDFAULT at pc={:#010x}, lr={:#010x}", frame.pc(), frame.lr());
    exit(crate::EXIT_HARDFAULT)
}

#[exception]
fn SysTick() {
    crate::timer::fire();
}

/// The SysTick peripheral.
fn syst() -> cortex_m::peripheral::SYST {
    // SAFETY: SysTick is used by `start_timer` and `stop_timer` only, which the timer module
    // calls from thread mode one at a time; nothing else in the firmware takes the
    // peripherals, so no other handle to SYST exists.
    unsafe { cortex_m::Peripherals::steal() }.SYST
}

/// Starts SysTick: an interrupt every `ticks` core clock cycles (at most 2^24).
pub(crate) fn start_timer(ticks: u32) {
    let mut syst = syst();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(ticks.clamp(2, 1 << 24) - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Stops SysTick and its interrupt.
pub(crate) fn stop_timer() {
    let mut syst = syst();
    syst.disable_interrupt();
    syst.disable_counter();
}
