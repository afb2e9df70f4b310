//! Firmware that counts the instructions of every `alloc`, `free` and `realloc`, on the
//! Cortex-M3, the Cortex-M0 (ARMv6-M: no compare-and-swap) and RISC-V RV32IMAC. The
//! architecture-specific parts are the runtime, the semihosting exit and the marker
//! instructions ([`marker`]); everything else is shared.
//!
//! Each binary in `src/bin/` links one allocator (an [`Allocator`] adapter) and runs the same
//! seeded operation sequence on a 32 KiB arena ([`workload`]). Around every measured call the
//! firmware stores to a marker word ([`marker`]); the `insn_count` QEMU plugin
//! (`bench/qemu-plugin/`) counts the guest instructions between the two stores. `cargo xtask
//! bench` runs every binary twice (the counts must be identical), `cargo xtask size` reads the
//! section sizes of the same binaries against `baseline`, which links only a trivial bump
//! allocator.
//!
//! To see which requests cost what, `cargo xtask m3-calls <bin>` (e.g. `bareheap_tlsf`) runs
//! one binary on the Cortex-M3 and names the request behind every count: it replays the seeded
//! sequence on the host with the same draws ([`sequence`], shared by `#[path]`) and prints the
//! most expensive calls of each kind (`--top K`) with their request (size, alignment, slot, live
//! blocks, when the block was allocated), the means per alignment and size class, and with
//! `--csv PATH` every call. The main sequence's binaries only.
//!
//! Binaries named `small_*` run the small-object sequence instead ([`run_small`]: requests of
//! at most 256 bytes, build-and-teardown cycles and churn), where a slab front end is compared
//! with its backing heap: `bench_main!(H, small)`.
//!
//! Adding an allocator is one file in `src/bin/` (`cargo xtask` finds it); for a bareheap heap:
//!
//! ```ignore
//! cortex_m_bench::bareheap_heap!(H, "bareheap Tlsf", bareheap::Tlsf, bareheap::Tlsf::new(), reuses_memory = true);
//! cortex_m_bench::bench_main!(H);
//! ```
//!
//! Every payload is filled with a pattern on allocation and checked before it is freed or
//! after it is moved; a wrong pointer, a lost byte or a refused request ends the run with a
//! failure exit status, so a broken allocator is reported as failed, never counted.

#![no_std]

use core::cell::UnsafeCell;

#[cfg(target_arch = "arm")]
use cortex_m_semihosting::debug;
#[cfg(target_arch = "arm")]
#[doc(hidden)]
pub use cortex_m_semihosting::hprintln;
#[cfg(target_arch = "riscv32")]
use riscv_semihosting::debug;
#[cfg(target_arch = "riscv32")]
#[doc(hidden)]
pub use riscv_semihosting::hprintln;

pub mod adapters;
pub mod marker;
pub mod sequence;
pub mod workload;

pub use workload::{run, run_small};

#[doc(hidden)]
pub use bareheap;

/// One allocator under test: the calls the workload makes, with the allocator's own state in a
/// `static` (so its control structures show up in `.data`/`.bss`, where `size` counts them).
///
/// Adapters call the allocator's own API directly where it has one (no lock); the ones that
/// only offer `GlobalAlloc` say so in their docs.
pub trait Allocator {
    /// The name in tables.
    const NAME: &'static str;

    /// False for allocators that never reuse freed memory: their run stops, successfully, at
    /// the first refused allocation, and only the operations before it are counted.
    const REUSES_MEMORY: bool = true;

    /// Gives the arena to the allocator; false if it refused it.
    ///
    /// # Safety
    ///
    /// Called once, before any other method; `[arena, arena + len)` is valid, unused memory
    /// for the rest of the program.
    unsafe fn init(arena: *mut u8, len: usize) -> bool;

    /// Allocates a block for `layout` (size never zero); null on failure.
    fn alloc(layout: core::alloc::Layout) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` came from this allocator with `layout` and is still allocated.
    unsafe fn free(ptr: *mut u8, layout: core::alloc::Layout);

    /// Resizes a block to `new_size` (never zero), keeping its contents; null on failure (the
    /// old block is then still allocated).
    ///
    /// # Safety
    ///
    /// `ptr` came from this allocator with `layout` and is still allocated.
    unsafe fn realloc(ptr: *mut u8, layout: core::alloc::Layout, new_size: usize) -> *mut u8;

    /// The allocator's own consistency check, where it has one (run after the workload).
    fn validate() -> bool {
        true
    }
}

/// A `static` cell for an allocator's state.
///
/// # Invariants
///
/// - **S1** The firmware runs on one core and no interrupt handler touches an allocator, so
///   at most one reference obtained through [`Static::get`] is live at a time (each adapter
///   method creates one and drops it before returning).
pub struct Static<T>(UnsafeCell<T>);

// SAFETY: S1: there is no concurrent access to share with.
unsafe impl<T> Sync for Static<T> {}

impl<T> Static<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        Static(UnsafeCell::new(value))
    }

    /// The contents; see S1 for when a reference made from it is unique.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// Defines the entry point of a benchmark binary for the adapter `$alloc`.
#[macro_export]
macro_rules! bench_main {
    ($alloc:ty) => {
        /// The firmware entry point that cortex-m-rt's reset handler calls.
        ///
        /// # Safety
        ///
        /// Called once by the reset handler.
        #[export_name = "main"]
        pub unsafe extern "C" fn bench_main() -> ! {
            $crate::run::<$alloc>()
        }
    };
    ($alloc:ty, small) => {
        /// The firmware entry point that cortex-m-rt's reset handler calls: the small-object
        /// sequence.
        ///
        /// # Safety
        ///
        /// Called once by the reset handler.
        #[export_name = "main"]
        pub unsafe extern "C" fn bench_main() -> ! {
            $crate::run_small::<$alloc>()
        }
    };
}

/// Ends the program: QEMU exits with status 0 (`ok`) or 1.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Without a debugger attached, the exit request returns; stop here.
    loop {
        #[cfg(target_arch = "arm")]
        cortex_m::asm::wfi();
        #[cfg(target_arch = "riscv32")]
        riscv::asm::wfi();
    }
}

/// A dependency (talc, through `allocator-api2`'s `alloc` feature) links the `alloc` crate,
/// which needs a `#[global_allocator]`. Nothing here allocates through it, and a linker
/// section garbage collection drops it from every binary alike.
struct NoGlobalAllocator;

// SAFETY: never hands out memory.
unsafe impl core::alloc::GlobalAlloc for NoGlobalAllocator {
    unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[global_allocator]
static NO_GLOBAL_ALLOCATOR: NoGlobalAllocator = NoGlobalAllocator;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("FAIL panic: {}", info);
    exit(false)
}

#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    hprintln!("FAIL hard fault at pc {:#010x}", frame.pc());
    exit(false)
}

/// Every RISC-V exception (riscv-rt's catch-all handler) fails the run.
#[cfg(target_arch = "riscv32")]
#[export_name = "ExceptionHandler"]
extern "C" fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    let (cause, pc) = (riscv::register::mcause::read().bits(), riscv::register::mepc::read());
    hprintln!("FAIL exception {} at pc {:#010x}", cause, pc);
    exit(false)
}
