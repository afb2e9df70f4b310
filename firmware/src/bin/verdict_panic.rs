//! Must fail: panics, so QEMU must exit with status 1. `cargo xtask test` checks that it does,
//! which proves that a failing firmware test cannot pass by accident.
#![no_std]
#![no_main]

use firmware::hprintln;

#[firmware::entry]
fn main() -> ! {
    hprintln!("verdict_panic: panicking on purpose; the expected exit status is 1");
    let limit = core::hint::black_box(3u32);
    assert!(limit > 5, "deliberate failure: {} is not above 5", limit);
    firmware::exit(firmware::EXIT_PASS)
}
