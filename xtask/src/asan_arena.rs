//! AddressSanitizer *inside* the arena (issue 5): the testkit, then the library's own unit tests,
//! under ASan with the heaps poisoning their free space and slack (`--cfg bareheap_asan`,
//! `crates/bareheap/src/sanitize.rs`), then the planted bugs of `crates/bareheap-testkit/tests/asan_arena.rs`, each in its own
//! process, which ASan must report, and one of them without the poisoning, which plain ASan
//! must *not* report (the arena is one valid object to it): the reason the poisoning exists, and
//! proof that the controls test it.
//!
//! Runs on the stable toolchain with `RUSTC_BOOTSTRAP=1` (std stays uninstrumented, hence the
//! ABI flag), x86_64 Linux only; elsewhere every check is SKIPPED.

use crate::reliability::{expect_planted, Planted};
use crate::report::Report;
use crate::setup;
use std::process::Command;

const HOST: &str = "x86_64-unknown-linux-gnu";

/// Plain ASan, as the testkit's `asan` step builds it (same flags and target directory, so that
/// build is shared).
const ASAN_FLAGS: &str = "-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer";

/// The planted bugs: each must be reported.
const CONTROLS: &[&str] = &[
    "control_tlsf_use_after_free_in_arena_is_reported",
    "control_first_fit_use_after_free_in_arena_is_reported",
    "control_tlsf_one_byte_overflow_in_arena_is_reported",
    "control_first_fit_one_byte_overflow_in_arena_is_reported",
    "control_bump_one_byte_overflow_in_arena_is_reported",
    "control_atomic_bump_one_byte_overflow_in_arena_is_reported",
    "control_atomic_bump_use_after_free_in_arena_is_reported",
    "control_tlsf_overflow_into_free_neighbour_is_reported",
    "control_first_fit_overflow_into_free_neighbour_is_reported",
    "control_slab_use_after_free_in_arena_is_reported",
    "control_slab_one_byte_overflow_in_arena_is_reported",
    "control_slab_overflow_past_its_slot_is_reported",
];

/// The error kinds poisoning produces: a fully poisoned granule, or the poisoned suffix of a
/// partial one (ASan cannot tell why the rest of a partial granule is unaddressable).
const KINDS: &[&str] = &["AddressSanitizer: use-after-poison", "AddressSanitizer: unknown-crash"];

/// The library's features for its unit tests: all but `nightly` (whose allocator tests have
/// their own nightly step), so the `hardened` tier's tests run with the heaps poisoning too.
/// The whole unit suite (about 490 tests, every heap module's) adds about a minute: it is
/// not trimmed to a few modules.
const LIB_FEATURES: &str = "hardened,allocator-api2,critical-section,loop-counters";

fn asan_cargo(poisoning: bool, package: &str, args: &[&str]) -> Command {
    let (flags, dir) = if poisoning {
        (format!("{ASAN_FLAGS} --cfg bareheap_asan"), "asan-arena")
    } else {
        (ASAN_FLAGS.to_owned(), "asan")
    };
    let mut cmd = Command::new(setup::cargo());
    cmd.args(args)
        .args(["--target", HOST, "-p", package])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", &flags)
        .env("RUSTDOCFLAGS", &flags)
        // The tests leak arenas on purpose (`Box::leak`, standing in for a `static`).
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .env("CARGO_TARGET_DIR", setup::root().join("target").join(dir))
        .current_dir(setup::root());
    cmd
}

/// The ASan-with-poisoning checks of `cargo xtask test`.
pub fn asan_arena(report: &mut Report) {
    let name = "ASan + arena poisoning: testkit tests (no false positives)";
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        let why = "AddressSanitizer with RUSTC_BOOTSTRAP is set up for x86_64 Linux hosts only";
        report.skip(name, why);
        report.skip("ASan + arena poisoning: planted bugs", why);
        return;
    }
    if !report.run(name, asan_cargo(true, "bareheap-testkit", &["test", "--tests"])) {
        return;
    }
    // The unit tests' arenas (`crates/bareheap/src/test_util.rs`) unpoison what the heaps
    // poisoned when a test takes them back, like the testkit's `Arena`.
    report.run(
        "ASan + arena poisoning: bareheap unit tests (no false positives)",
        asan_cargo(true, "bareheap", &["test", "--lib", "--features", LIB_FEATURES]),
    );
    for control in CONTROLS {
        let mut cmd = asan_cargo(true, "bareheap-testkit", &["test", "--test", "asan_arena"]);
        cmd.args(["--", "--ignored", "--exact", control]);
        expect_planted(
            report,
            &format!("ASan arena control: {control}"),
            cmd,
            Planted::Reported(KINDS),
        );
    }
    // The same planted bug without the poisoning: plain ASan must stay silent.
    let control = CONTROLS[0];
    let mut cmd = asan_cargo(false, "bareheap-testkit", &["test", "--test", "asan_arena"]);
    cmd.args(["--", "--ignored", "--exact", control]);
    expect_planted(
        report,
        &format!("plain ASan (no poisoning) does NOT report {control}"),
        cmd,
        Planted::Silent("ERROR: AddressSanitizer"),
    );
}
