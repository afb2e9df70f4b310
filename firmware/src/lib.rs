//! What every bareheap firmware program shares: the exit channel (semihosting), the panic and
//! HardFault handlers, a tiny test-table runner, the seeded random source, byte patterns, and
//! the workloads (random stress, out-of-memory, allocation from interrupts) written once,
//! generic over the heap.
//!
//! # The verdict channel
//!
//! Programs end with [`exit`], a semihosting `SYS_EXIT_EXTENDED` call: QEMU exits with the given
//! status, and that status is what `cargo xtask test` reads. 0 means every check passed, 1 a
//! failed check or a panic, 2 a HardFault.

#![no_std]

pub mod heaps;
pub mod isr;
pub mod oom;
pub mod pattern;
pub mod rng;
pub mod runner;
pub mod stress;

use core::panic::PanicInfo;

use cortex_m_rt::{exception, ExceptionFrame};
pub use cortex_m_semihosting::{hprint, hprintln};

/// Exit status: every check passed.
pub const EXIT_PASS: u32 = 0;
/// Exit status: a check failed, or the program panicked.
pub const EXIT_FAIL: u32 = 1;
/// Exit status: the CPU took a HardFault.
pub const EXIT_HARDFAULT: u32 = 2;

/// Ends the program: QEMU (or a semihosting debugger) exits with `status`.
///
/// Uses `SYS_EXIT_EXTENDED`, which carries a full status code on 32-bit Arm (plain `SYS_EXIT`
/// only tells success from failure). Without a semihosting host the call does not return and
/// the CPU parks here.
pub fn exit(status: u32) -> ! {
    /// `ADP_Stopped_ApplicationExit`: the reason code of a normal program exit.
    const APPLICATION_EXIT: u32 = 0x2_0026;
    /// The semihosting operation number of `SYS_EXIT_EXTENDED`.
    const SYS_EXIT_EXTENDED: usize = 0x20;
    let block = [APPLICATION_EXIT, status];
    // SAFETY: `SYS_EXIT_EXTENDED` reads the two-word parameter block `block` points to, which
    // lives until the call returns (it does not, under a semihosting host).
    unsafe { cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block) };
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints the panic message and exits with [`EXIT_FAIL`]. Allocation failures from infallible
/// collection methods arrive here too (Rust's `no_std` allocation-error handler panics).
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    hprintln!("\nPANIC: {}", info);
    exit(EXIT_FAIL)
}

/// Prints where the fault happened and exits with [`EXIT_HARDFAULT`].
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("\nHARDFAULT at pc={:#010x}, lr={:#010x}", frame.pc(), frame.lr());
    exit(EXIT_HARDFAULT)
}
