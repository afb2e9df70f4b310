//! `cargo xtask`: the one entry point for building, running and checking bareheap.
//!
//! Every check prints one line: `PASS <name>`, `FAIL <name>` or `SKIPPED <name>: <reason>`.
//! A skipped check is never counted as passed.

mod asan_arena;
mod bench;
mod c_abi;
mod firmware;
mod m3_calls;
mod reliability;
mod report;
mod setup;
mod size;
mod soak;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::report::Report;

#[derive(Parser)]
#[command(about = "bareheap's build, demo and test driver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the demo firmware and run it in QEMU (installs what it lacks).
    Demo {
        /// The board (a row of `firmware/boards.rs`); the Cortex-M3 `lm3s6965evb` if not given.
        #[arg(long)]
        board: Option<String>,
    },
    /// Run every check: fmt, clippy, host tests (debug and release), docs, firmware on every
    /// board in QEMU.
    Test,
    /// What CI runs (the same as `test`).
    Ci,
    /// Only the firmware part of `test`: every program on every board in QEMU, and the matrix.
    Firmware,
    /// Side-by-side benchmarks against the peer allocators (host and Cortex-M3).
    Bench {
        /// A short run (under 2 minutes) for smoke-testing the harness.
        #[arg(long)]
        quick: bool,
    },
    /// Code size and static RAM of each allocator in Cortex-M firmware.
    Size,
    /// The Cortex-M3 instruction count of every call of one `bench/cortex-m` binary, named by
    /// its request: the most expensive calls and the means per alignment and size class.
    M3Calls {
        /// The binary (a file stem of `bench/cortex-m/src/bin/`, e.g. `bareheap_tlsf`).
        bin: String,
        /// How many of the most expensive calls of each kind to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Also write every call (step, request, count) to this CSV file.
        #[arg(long)]
        csv: Option<std::path::PathBuf>,
    },
    /// Only the reliability steps of `test`: ISR model, fuzz smoke, ASan, valgrind, Miri.
    Reliability,
    /// Only the AddressSanitizer steps of `test`: the testkit and the library's unit tests with
    /// arena poisoning, and the planted bugs ASan must report.
    Asan,
    /// Only the catalogue-coverage check: a `cat_<row>_` test for every applicable row.
    Catalogue,
    /// Long campaigns outside `test`: shadow-model and bound stresses with new seeds, threads,
    /// the interrupt model and fuzzing, within a time budget; the log goes to results/soak/.
    Soak {
        /// The time budget in minutes.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// The log file (default: results/soak/<UTC time>-<N>min.log).
        #[arg(long)]
        log: Option<std::path::PathBuf>,
    },
    /// Fuzz every heap, the GlobalAlloc wrapper and region init (cargo-fuzz, ASan).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// Only this target (a file stem of fuzz/fuzz_targets/).
        #[arg(long)]
        target: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut report = Report::new();
    match cli.command {
        Command::Demo { board } => firmware::demo(&mut report, board.as_deref()),
        Command::Test | Command::Ci => test(&mut report),
        Command::Firmware => firmware::test(&mut report),
        Command::Bench { quick } => bench::bench(&mut report, quick),
        Command::Size => bench::size(&mut report),
        Command::M3Calls { bin, top, csv } => {
            m3_calls::m3_calls(&mut report, &bin, top, csv.as_deref())
        }
        Command::Reliability => reliability::all(&mut report),
        Command::Catalogue => reliability::catalogue(&mut report),
        Command::Asan => {
            asan_arena::asan_arena(&mut report);
            reliability::asan(&mut report);
        }
        Command::Soak { minutes, log } => soak::soak(&mut report, minutes, log.as_deref()),
        Command::Fuzz { seconds, target } => {
            reliability::fuzz(&mut report, seconds, target.as_deref());
        }
    }
    report.finish()
}

fn test(report: &mut Report) {
    report.cargo("fmt", &["fmt", "--all", "--check"]);
    report.cargo(
        "clippy (host, all targets)",
        &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"],
    );
    report.cargo("host tests (debug)", &["test", "--workspace", "--all-features"]);
    report.cargo("host tests (release)", &["test", "--workspace", "--all-features", "--release"]);
    // `--all-features` includes `hardened`, so the runs above test both fault tiers; this one
    // checks that the default tier builds and passes without the feature.
    report.cargo(
        "host tests, default features (bareheap, testkit)",
        &["test", "-p", "bareheap", "-p", "bareheap-testkit"],
    );
    report.cargo_env(
        "rustdoc (warnings denied)",
        &["doc", "-p", "bareheap", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    );
    // The library builds with its declared minimum Rust version (`rust-version`).
    with_toolchain(
        report,
        "1.84",
        "MSRV 1.84: check",
        &["check", "-p", "bareheap", "--all-features"],
    );
    with_toolchain(
        report,
        "nightly",
        "nightly: core::alloc::Allocator (feature nightly)",
        &["test", "-p", "bareheap", "--features", "nightly,allocator-api2", "--lib", "allocator"],
    );
    c_abi::test(report);
    asan_arena::asan_arena(report);
    firmware::test(report);
    reliability::all(report);
}

/// Runs `cargo <args>` with another rustup toolchain (installed on demand, minimal profile),
/// in a target directory of its own. SKIPPED if the toolchain cannot be installed.
fn with_toolchain(report: &mut Report, toolchain: &str, name: &str, args: &[&str]) {
    if !setup::ensure_toolchain(toolchain) {
        report.skip(name, &format!("rustup could not install toolchain {toolchain}"));
        return;
    }
    let mut cmd = std::process::Command::new("rustup");
    cmd.args(["run", toolchain, "cargo"])
        .args(args)
        .env("CARGO_TARGET_DIR", setup::root().join("target").join(toolchain))
        .current_dir(setup::root());
    report.run(name, cmd);
}
