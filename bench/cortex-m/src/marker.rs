//! Marker stores that open and close a measurement for the `insn_count` QEMU plugin.
//!
//! The 16 words at `__bench_marker` (defined in `memory.x`, just past the `RAM` region) are
//! watched by the plugin: a store to word `k > 0` opens a measurement of kind `k`, a store to
//! word 0 closes it, and the plugin records the instructions executed after the opening store
//! up to and including the closing one.
//!
//! Both stores are `asm!` blocks without `nomem`, so the compiler treats them as reading and
//! writing all memory: no load or store of the allocator moves across them. The values an
//! operation works on pass *through* the opening block (as `inout` operands), so no
//! computation that depends on them can be hoisted above it; its result passes into the
//! closing block, so it is complete before the closing store.

use core::arch::asm;

/// The marker store: the word's address stored to itself (the value does not matter).
#[cfg(target_arch = "arm")]
macro_rules! store {
    () => {
        "str {w}, [{w}]"
    };
}
/// The marker store: the word's address stored to itself (the value does not matter).
#[cfg(target_arch = "riscv32")]
macro_rules! store {
    () => {
        "sw {w}, 0({w})"
    };
}

/// What a measurement measures; the number is the marker word (and the plugin's kind number).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub enum Kind {
    /// One `Allocator::alloc`.
    Alloc = 1,
    /// One `Allocator::free`.
    Free = 2,
    /// One `Allocator::realloc`.
    Realloc = 3,
    /// Nothing: the cost of the markers themselves, subtracted from every other kind.
    Empty = 4,
    /// A loop of exactly [`CALIBRATION_INSNS`] instructions: checks the counting.
    Calibration = 5,
}

/// The instructions executed by [`calibration_loop`].
pub const CALIBRATION_INSNS: u32 = 1 + 2 * CALIBRATION_ITERATIONS;
const CALIBRATION_ITERATIONS: u32 = 100;

extern "C" {
    /// The marker words (placed by `memory.x`).
    static mut __bench_marker: [u32; 16];
}

fn word(kind: usize) -> *mut u32 {
    // Taking the address of an extern static creates no reference and reads nothing.
    let base = &raw mut __bench_marker;
    base.cast::<u32>().wrapping_add(kind)
}

/// Opens a measurement of `kind`, passing `a` and `b` through it unchanged.
#[inline(always)]
pub fn open2(kind: Kind, mut a: usize, mut b: usize) -> (usize, usize) {
    let w = word(kind as usize);
    // SAFETY: `w` points into the 64 marker bytes reserved past the end of RAM (memory.x);
    // nothing else uses them. The operands pass through unmodified.
    unsafe {
        asm!(concat!(store!(), " /* {a} {b} */"), w = in(reg) w, a = inout(reg) a, b = inout(reg) b,
             options(nostack, preserves_flags));
    }
    (a, b)
}

/// Opens a measurement of `kind`, passing the four values through it unchanged.
#[inline(always)]
pub fn open4(
    kind: Kind,
    mut a: *mut u8,
    mut b: usize,
    mut c: usize,
    mut d: usize,
) -> (*mut u8, usize, usize, usize) {
    let w = word(kind as usize);
    // SAFETY: as in `open2`.
    unsafe {
        asm!(concat!(store!(), " /* {a} {b} {c} {d} */"), w = in(reg) w, a = inout(reg) a, b = inout(reg) b,
             c = inout(reg) c, d = inout(reg) d, options(nostack, preserves_flags));
    }
    (a, b, c, d)
}

/// Opens a measurement of `kind`, passing `a`, `b` and `c` through it unchanged.
#[inline(always)]
pub fn open3(kind: Kind, mut a: *mut u8, mut b: usize, mut c: usize) -> (*mut u8, usize, usize) {
    let w = word(kind as usize);
    // SAFETY: as in `open2`.
    unsafe {
        asm!(concat!(store!(), " /* {a} {b} {c} */"), w = in(reg) w, a = inout(reg) a, b = inout(reg) b,
             c = inout(reg) c, options(nostack, preserves_flags));
    }
    (a, b, c)
}

/// Closes the open measurement once `result` is computed.
#[inline(always)]
pub fn close(result: *mut u8) {
    let w = word(0);
    // SAFETY: as in `open2`; `result` is only an input, so it must exist before the store.
    unsafe {
        asm!(concat!(store!(), " /* {r} */"), w = in(reg) w, r = in(reg) result,
             options(nostack, preserves_flags));
    }
}

/// A measurement with nothing inside.
#[inline(never)]
pub fn empty() {
    let _ = open2(Kind::Empty, 0, 0);
    close(core::ptr::null_mut());
}

/// A measurement around a loop of exactly [`CALIBRATION_INSNS`] instructions.
#[inline(never)]
pub fn calibration_loop() {
    let _ = open2(Kind::Calibration, 0, 0);
    // SAFETY: register-only arithmetic and a local branch.
    #[cfg(target_arch = "arm")]
    unsafe {
        asm!(
            "movs {n}, #{iterations}",
            "2:",
            "subs {n}, #1",
            "bne 2b",
            n = out(reg) _,
            iterations = const CALIBRATION_ITERATIONS,
        );
    }
    // SAFETY: register-only arithmetic and a local branch (`li` of a small constant is one
    // instruction).
    #[cfg(target_arch = "riscv32")]
    unsafe {
        asm!(
            "li {n}, {iterations}",
            "2:",
            "addi {n}, {n}, -1",
            "bnez {n}, 2b",
            n = out(reg) _,
            iterations = const CALIBRATION_ITERATIONS,
        );
    }
    close(core::ptr::null_mut());
}
