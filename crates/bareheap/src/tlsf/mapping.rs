//! The size-class mapping: block sizes (in granules) to free-list indices and back.
//!
//! Pure integer functions, no memory access, so they can be tested exhaustively.
//!
//! A block of `u` granules belongs to class `floor_index(u)`. With `SL = 1 << sl_log2`:
//!
//! ```text
//!   u in [0, 2·SL)              index = u                      (exact classes, one size each)
//!   u in [SL << s, SL << s+1)   index = s·SL + (u >> s)        (s ≥ 1: SL classes per power
//!                                                                of two, each 2^s granules wide)
//! ```
//!
//! Where the core counts leading zeros in one instruction ([`HAS_CLZ`]: x86-64, Cortex-M3 and
//! up, RISC-V with Zbb), both lines are the one formula `s·SL + (u >> s)` with
//! `s = max(log2 u, sl_log2) − sl_log2`, computed without a branch as `log2(u | SL) − sl_log2`.
//! Elsewhere (Cortex-M0/M0+, RISC-V without Zbb) the exact classes take a branch and need no
//! `log2` at all, and larger sizes get theirs from [`log2_by_compares`]. The first level of an
//! index is `index >> sl_log2` and the second is `index & (SL − 1)`; first level `f ≥ 1`
//! covers `[SL << (f−1), SL << f)` granules.

/// Whether the target counts leading zeros in one instruction. Without it (Thumb-1: ARMv6-M,
/// ARMv8-M Baseline; RISC-V without Zbb) `leading_zeros` is a call to `__clzsi2` (about 25
/// instructions with the call on Cortex-M0) or a 33-instruction inline bit smear and
/// population count (RV32IMAC), and the mapping uses [`log2_by_compares`] after a branch for
/// the exact classes instead. Measured per call (QEMU, opt-level s, the benchmark's workload):
/// Cortex-M0 allocate 127.9 to 102.9, free 118.6 to 86.3, realloc 299.9 to 255.2; RV32IMAC
/// allocate 97.1 to 94.8, free 95.1 to 76.7, realloc 252.9 to 232.0, code 2,888 to 2,696 B.
///
/// Stable Rust reports no ARM target features, so there an ARM target without 32-bit atomics
/// (ARMv6-M and the Thumb-1 ARMv4T/v5TE targets) counts as one without the instruction;
/// nightly also knows ARMv8-M Baseline (M-profile without Thumb-2). Every other target keeps
/// `leading_zeros` and compiles to the same code as before this choice existed.
pub(crate) const HAS_CLZ: bool = if cfg!(target_arch = "arm") {
    cfg!(target_feature = "thumb2")
        || (cfg!(target_has_atomic = "32") && !cfg!(target_feature = "mclass"))
} else {
    !cfg!(any(target_arch = "riscv32", target_arch = "riscv64")) || cfg!(target_feature = "zbb")
};

/// The class that holds blocks of `units` granules: the largest index whose
/// [`class_base`] is `<= units`.
#[inline(always)]
pub(crate) const fn floor_index(units: usize, sl_log2: u32) -> usize {
    floor_index_with(units, sl_log2, HAS_CLZ)
}

/// [`floor_index`], computed with `leading_zeros` if `clz`, else with [`log2_by_compares`]
/// (both variants are tested on every host).
#[inline(always)]
pub(crate) const fn floor_index_with(units: usize, sl_log2: u32, clz: bool) -> usize {
    if !clz && units < 2 << sl_log2 {
        return units;
    }
    let s = shift(units, sl_log2, clz);
    ((s as usize) << sl_log2) + (units >> s)
}

/// [`floor_index`] of `bytes >> g_log2` (a block size in bytes, in granules of `2^g_log2`),
/// computed from the bytes: with `t = s + g_log2` the index is `(t − g_log2)·SL + (bytes >> t)`,
/// and `t = log2(bytes | SL << g_log2) − sl_log2` needs no shift of `bytes` first (two Cortex-M3
/// instructions fewer than shifting to granules: the `OR` takes an immediate). The low
/// `g_log2` bits of `bytes` do not matter. `sl_log2 + g_log2 < usize::BITS`.
#[inline(always)]
pub(crate) const fn floor_index_bytes(bytes: usize, sl_log2: u32, g_log2: u32) -> usize {
    floor_index_bytes_with(bytes, sl_log2, g_log2, HAS_CLZ, false)
}

/// [`floor_index_bytes`] for the free path, which files every freed block: with the
/// compares of [`log2_by_compares`] inline where [`INLINE_LOG2_ON_FREE`].
#[inline(always)]
pub(crate) const fn floor_index_bytes_freed(bytes: usize, sl_log2: u32, g_log2: u32) -> usize {
    floor_index_bytes_with(bytes, sl_log2, g_log2, HAS_CLZ, INLINE_LOG2_ON_FREE)
}

/// Whether the free path computes its class without a call (RISC-V without Zbb). The call to
/// [`log2_by_compares`] made the free function a non-leaf: its three live values (control
/// block, block, size) sat in callee-saved registers, saved and restored on every free. Inline,
/// they stay in argument registers and the function needs no stack frame. Measured per call
/// (RV32IMAC, QEMU, opt-level s): free mean 75.2 / max 140 to 63.8 / 126, realloc 230.5 to
/// 221.8, allocate unchanged, code 2,712 to 2,824 B. Not on Cortex-M0, where the inline
/// compares cost more low registers than the call (free 86.3 to 87.4, 140 bytes more).
pub(crate) const INLINE_LOG2_ON_FREE: bool =
    !HAS_CLZ && cfg!(any(target_arch = "riscv32", target_arch = "riscv64"));

/// [`floor_index_bytes`], computed with `leading_zeros` if `clz`, else with
/// [`log2_by_compares`], called or (if `inline`) inline.
#[inline(always)]
pub(crate) const fn floor_index_bytes_with(
    bytes: usize,
    sl_log2: u32,
    g_log2: u32,
    clz: bool,
    inline: bool,
) -> usize {
    let t = if clz {
        (usize::BITS - 1 - (bytes | (1 << (sl_log2 + g_log2))).leading_zeros()) - sl_log2
    } else if bytes < 2 << (sl_log2 + g_log2) {
        return bytes >> g_log2;
    } else {
        // `bytes >> (sl_log2 + g_log2 + 1) >= 1`, and small for the heaps of small cores.
        let x = bytes >> (sl_log2 + g_log2 + 1);
        g_log2 + 1 + if inline { log2_chain(x) } else { log2_by_compares(x) }
    };
    ((t as usize) << sl_log2) + (bytes >> t) - ((g_log2 as usize) << sl_log2)
}

/// The first class all of whose blocks have at least `units` granules: the smallest index whose
/// [`class_base`] is `>= units`. Equals [`floor_index`] for the exact classes (`units < 2·SL`).
///
/// `units` must be below `usize::MAX / 2` so that rounding up cannot overflow (callers derive it
/// from a size `<= isize::MAX`, divided by the granule).
#[inline(always)]
pub(crate) const fn ceil_index(units: usize, sl_log2: u32) -> usize {
    ceil_index_with(units, sl_log2, HAS_CLZ)
}

/// [`ceil_index`], computed with `leading_zeros` if `clz`, else with [`log2_by_compares`].
#[inline(always)]
pub(crate) const fn ceil_index_with(units: usize, sl_log2: u32, clz: bool) -> usize {
    if !clz && units < 2 << sl_log2 {
        return units;
    }
    let s = shift(units, sl_log2, clz);
    // Rounding up to the next multiple of 2^s may carry into `2·SL << s`, which is exactly the
    // first class of the next power of two: the formula stays right without a branch.
    ((s as usize) << sl_log2) + ((units + (1 << s) - 1) >> s)
}

/// The smallest block (in granules) of class `index`; the inverse of [`floor_index`] on class
/// bases. `index` must be below `BITS << sl_log2` for the result to fit.
#[cfg(test)]
pub(crate) const fn class_base(index: usize, sl_log2: u32) -> usize {
    let fl = index >> sl_log2;
    if fl == 0 {
        index
    } else {
        let s = fl as u32 - 1;
        (index - ((s as usize) << sl_log2)) << s
    }
}

/// `max(log2 units, sl_log2) − sl_log2`: how many low bits of `units` a class ignores. Without
/// `clz`, only for `units >= 2·SL` (the callers branch off the exact classes first).
#[inline(always)]
const fn shift(units: usize, sl_log2: u32, clz: bool) -> u32 {
    if clz {
        (usize::BITS - 1 - (units | (1 << sl_log2)).leading_zeros()) - sl_log2
    } else {
        1 + log2_by_compares(units >> (sl_log2 + 1))
    }
}

/// `⌊log2 x⌋` for `x ≥ 1` (0 for 0) without `leading_zeros`, for cores that lack the
/// instruction. The callers pass a size shifted down past the exact classes, so on the heaps of
/// small cores `x` is small: one compare per power of two up to 2^8 (sizes below 32 KiB with
/// the 32-bit defaults), each a `cmp` with an immediate, returning at once; larger values
/// halve their range instead (32, 16, 8 and 4 bits) and read the last two bits of the answer
/// from a constant. No loop, so the operations stay loop-free (F6).
///
/// Out of line: one copy of 136 bytes (Cortex-M0) serves every call site. Measured
/// alternatives (Cortex-M0, per call): halving first for every value (the shape of
/// `__clzsi2`, LLVM turns its steps into selects) left free at 96 instructions, the same as
/// `__clzsi2`; halving to a byte, then the chain with a common exit, free 89.0.
#[inline(never)]
pub(crate) const fn log2_by_compares(x: usize) -> u32 {
    log2_chain(x)
}

/// The body of [`log2_by_compares`], for the one call site that takes it inline
/// ([`floor_index_bytes_freed`]).
#[inline(always)]
const fn log2_chain(x: usize) -> u32 {
    if x < 2 {
        return 0;
    }
    if x < 4 {
        return 1;
    }
    if x < 8 {
        return 2;
    }
    if x < 16 {
        return 3;
    }
    if x < 32 {
        return 4;
    }
    if x < 64 {
        return 5;
    }
    if x < 128 {
        return 6;
    }
    if x < 256 {
        return 7;
    }
    let mut x = x as u64;
    let mut r = 0;
    if usize::BITS > 32 && x >> 32 != 0 {
        x >>= 32;
        r += 32;
    }
    if x >> 16 != 0 {
        x >>= 16;
        r += 16;
    }
    if x >> 8 != 0 {
        x >>= 8;
        r += 8;
    }
    if x >> 4 != 0 {
        x >>= 4;
        r += 4;
    }
    // `⌊log2 x⌋` for `x` in 1..16, two bits each: 0, 0, 1, 1, 2 (four times), 3 (eight times).
    r + ((0xFFFF_AA50u32 >> (2 * x)) & 3)
}
