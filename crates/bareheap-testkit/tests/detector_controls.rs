//! Planted bugs that each memory-error detector must report (RELIABILITY.md R6). They are
//! `#[ignore]`d: `cargo xtask test` runs them one at a time under ASan and under valgrind and
//! fails if the detector does NOT report them, so a silently vacuous detector run fails CI.
//!
//! Never run them without a detector: they are undefined behaviour on purpose.

use std::hint::black_box;

/// A one-byte write past the end of a `Vec`'s heap buffer (the off-by-one copy of R6).
#[test]
#[ignore = "planted bug: run only under ASan or valgrind (cargo xtask test)"]
fn control_heap_buffer_overflow_is_reported() {
    let v: Vec<u8> = black_box(vec![0u8; 24]);
    let p = v.as_ptr().cast_mut();
    // SAFETY: none; this is the planted out-of-bounds write the detector must report.
    unsafe { p.add(black_box(24)).write_volatile(0xee) };
    black_box(&v);
}

/// A read of a freed `Box` (use after free).
#[test]
#[ignore = "planted bug: run only under ASan or valgrind (cargo xtask test)"]
fn control_use_after_free_is_reported() {
    let b = black_box(Box::new([7u64; 4]));
    let p: *const u64 = &b[0];
    drop(b);
    // SAFETY: none; this is the planted use after free the detector must report.
    let x = unsafe { p.read_volatile() };
    black_box(x);
}
