//! RISC-V (machine mode, one hart): riscv-rt, RISC-V semihosting (QEMU's `-semihosting`), and
//! the CLINT's `mtime`/`mtimecmp` machine timer.

use core::sync::atomic::{AtomicU32, Ordering};

use riscv::interrupt::Interrupt;
use riscv::register::{mcause, mepc, mtval};

pub use riscv_rt::entry;

use crate::hprintln;

/// Ends the program: QEMU (or a semihosting debugger) exits with `status`.
///
/// Without a semihosting host the call does not return and the hart parks here.
pub fn exit(status: u32) -> ! {
    let block = [super::APPLICATION_EXIT, status];
    // SAFETY: `SYS_EXIT_EXTENDED` reads the two-word parameter block `block` points to, which
    // lives until the call returns (it does not, under a semihosting host).
    unsafe { riscv_semihosting::syscall(super::SYS_EXIT_EXTENDED, &block) };
    loop {
        riscv::asm::wfi();
    }
}

/// Executes the canonical illegal instruction (`unimp`): the hart takes an exception.
pub fn undefined_instruction() -> ! {
    // SAFETY: `unimp` traps (illegal instruction); the exception handler below exits and never
    // returns here, so `noreturn` holds.
    unsafe { core::arch::asm!("unimp", options(noreturn)) }
}

/// Every exception ends the program: prints the cause and where, and exits with
/// [`EXIT_HARDFAULT`](crate::EXIT_HARDFAULT) (the Cortex-M HardFault's counterpart).
#[export_name = "ExceptionHandler"]
extern "C" fn exception_handler(frame: &riscv_rt::TrapFrame) -> ! {
    hprintln!(
        "\nEXCEPTION (HardFault) mcause={} at pc={:#010x}, mtval={:#010x}, ra={:#010x}",
        mcause::read().bits(),
        mepc::read(),
        mtval::read(),
        frame.ra
    );
    exit(crate::EXIT_HARDFAULT)
}

/// `mtimecmp` of hart 0: the CLINT base plus 0x4000.
fn mtimecmp() -> *mut u32 {
    core::ptr::with_exposed_provenance_mut(crate::board::CLINT + 0x4000)
}

/// `mtime`: the CLINT base plus 0xBFF8.
fn mtime() -> *mut u32 {
    core::ptr::with_exposed_provenance_mut(crate::board::CLINT + 0xBFF8)
}

/// The 64-bit `mtime`, read as two halves (high, low, high again until it did not change).
fn now() -> u64 {
    let (lo, hi) = (mtime(), mtime().wrapping_add(1));
    loop {
        // SAFETY: `mtime` is the CLINT's memory-mapped 64-bit counter of this board
        // (`boards.rs`), always readable in machine mode; volatile as it changes by itself.
        let high = unsafe { hi.read_volatile() };
        // SAFETY: as above, its low word.
        let low = unsafe { lo.read_volatile() };
        // SAFETY: as above.
        if unsafe { hi.read_volatile() } == high {
            return (u64::from(high) << 32) | u64::from(low);
        }
    }
}

/// Sets `mtimecmp` without a spurious interrupt in between: high word to the maximum first.
fn set_compare(at: u64) {
    let (lo, hi) = (mtimecmp(), mtimecmp().wrapping_add(1));
    // SAFETY: `mtimecmp` is hart 0's memory-mapped compare register of this board's CLINT
    // (`boards.rs`); writing it only moves the next timer interrupt.
    unsafe { hi.write_volatile(u32::MAX) };
    // SAFETY: as above, its low word.
    unsafe { lo.write_volatile(at as u32) };
    // SAFETY: as above.
    unsafe { hi.write_volatile((at >> 32) as u32) };
}

/// Timer ticks between interrupts, set by `start_timer`; read by the handler. Plain load and
/// store only (no read-modify-write), so it works on cores without atomics too.
static PERIOD: AtomicU32 = AtomicU32::new(0);

#[riscv_rt::core_interrupt(Interrupt::MachineTimer)]
fn machine_timer() {
    set_compare(now().wrapping_add(u64::from(PERIOD.load(Ordering::Relaxed))));
    crate::timer::fire();
}

/// Starts the machine timer: an interrupt every `ticks` ticks of `mtime`.
pub(crate) fn start_timer(ticks: u32) {
    PERIOD.store(ticks.max(1), Ordering::Relaxed);
    set_compare(now().wrapping_add(u64::from(ticks)));
    // SAFETY: the machine timer handler above is installed and its state (`PERIOD`, the
    // timer module's tick) is set; enabling interrupts globally is what the test wants, and
    // critical sections (the `riscv` crate's single-hart implementation) restore the previous
    // state rather than assuming it.
    unsafe { riscv::interrupt::enable_interrupt(Interrupt::MachineTimer) };
    // SAFETY: as above.
    unsafe { riscv::interrupt::enable() };
}

/// Stops the machine timer interrupt.
pub(crate) fn stop_timer() {
    riscv::interrupt::disable_interrupt(Interrupt::MachineTimer);
    set_compare(u64::MAX);
}
