//! What differs between the cores: the runtime (reset, `main`, trap handlers), the semihosting
//! calls, the periodic timer. Everything else in the firmware is written once.
//!
//! Each architecture module provides the same items: `entry` (the runtime's attribute for
//! `main`), `exit`, `undefined_instruction`, and the crate-private `start_timer`/`stop_timer`,
//! whose interrupt handler calls [`crate::timer::fire`]. The critical-section implementation
//! comes from the architecture crate (`cortex-m`'s single-core or `riscv`'s single-hart one).

#[cfg(target_arch = "arm")]
mod cortex_m;
#[cfg(target_arch = "arm")]
pub use self::cortex_m::*;

#[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
mod riscv;
#[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
pub use self::riscv::*;

/// The semihosting operation number of `SYS_EXIT_EXTENDED`: exit with a full status code (the
/// plain `SYS_EXIT` of 32-bit cores only tells success from failure).
const SYS_EXIT_EXTENDED: usize = 0x20;
/// `ADP_Stopped_ApplicationExit`: the reason code of a normal program exit.
const APPLICATION_EXIT: u32 = 0x2_0026;
