//! Must fail: executes an undefined instruction, so the CPU takes a HardFault and QEMU must
//! exit with status 2. `cargo xtask test` checks that it does.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use firmware::hprintln;

#[entry]
fn main() -> ! {
    hprintln!("verdict_hardfault: faulting on purpose; the expected exit status is 2");
    cortex_m::asm::udf()
}
