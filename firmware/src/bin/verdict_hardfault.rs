//! Must fail: executes an undefined instruction, so the CPU takes a HardFault (on RISC-V an
//! illegal-instruction exception) and QEMU must exit with status 2. `cargo xtask test` checks that it does.
#![no_std]
#![no_main]

use firmware::hprintln;

#[firmware::entry]
fn main() -> ! {
    hprintln!("verdict_hardfault: faulting on purpose; the expected exit status is 2");
    firmware::undefined_instruction()
}
