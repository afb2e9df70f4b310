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
//! Both lines are the one formula `s·SL + (u >> s)` with `s = max(log2 u, sl_log2) − sl_log2`,
//! computed without a branch as `log2(u | SL) − sl_log2`. The first level of an index is
//! `index >> sl_log2` and the second is `index & (SL − 1)`; first level `f ≥ 1` covers
//! `[SL << (f−1), SL << f)` granules.

/// The class that holds blocks of `units` granules: the largest index whose
/// [`class_base`] is `<= units`.
#[inline(always)]
pub(crate) const fn floor_index(units: usize, sl_log2: u32) -> usize {
    let s = shift(units, sl_log2);
    ((s as usize) << sl_log2) + (units >> s)
}

/// [`floor_index`] of `bytes >> g_log2` (a block size in bytes, in granules of `2^g_log2`),
/// computed from the bytes: with `t = s + g_log2` the index is `(t − g_log2)·SL + (bytes >> t)`,
/// and `t = log2(bytes | SL << g_log2) − sl_log2` needs no shift of `bytes` first (two Cortex-M3
/// instructions fewer than shifting to granules: the `OR` takes an immediate). The low
/// `g_log2` bits of `bytes` do not matter. `sl_log2 + g_log2 < usize::BITS`.
#[inline(always)]
pub(crate) const fn floor_index_bytes(bytes: usize, sl_log2: u32, g_log2: u32) -> usize {
    let t = (usize::BITS - 1 - (bytes | (1 << (sl_log2 + g_log2))).leading_zeros()) - sl_log2;
    ((t as usize) << sl_log2) + (bytes >> t) - ((g_log2 as usize) << sl_log2)
}

/// The first class all of whose blocks have at least `units` granules: the smallest index whose
/// [`class_base`] is `>= units`. Equals [`floor_index`] for the exact classes (`units < 2·SL`).
///
/// `units` must be below `usize::MAX / 2` so that rounding up cannot overflow (callers derive it
/// from a size `<= isize::MAX`, divided by the granule).
#[inline(always)]
pub(crate) const fn ceil_index(units: usize, sl_log2: u32) -> usize {
    let s = shift(units, sl_log2);
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

/// `max(log2 units, sl_log2) − sl_log2`: how many low bits of `units` a class ignores.
#[inline(always)]
const fn shift(units: usize, sl_log2: u32) -> u32 {
    (usize::BITS - 1 - (units | (1 << sl_log2)).leading_zeros()) - sl_log2
}
