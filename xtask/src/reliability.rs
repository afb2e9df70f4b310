//! Reliability checks (issue 5): fuzzing with cargo-fuzz, Miri, AddressSanitizer and valgrind,
//! each detector with a planted-bug negative control that it must report.
//!
//! Sanitizers and libFuzzer run on the stable toolchain with `RUSTC_BOOTSTRAP=1`
//! (RELIABILITY.md §2); Miri needs nightly. Whatever cannot be installed is SKIPPED loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::report::Report;
use crate::setup;

/// The host target, named explicitly: sanitizer builds need `--target` so that build scripts
/// and proc macros are not instrumented.
const HOST: &str = "x86_64-unknown-linux-gnu";

/// RUSTFLAGS of the AddressSanitizer build (std stays uninstrumented, hence the ABI flag).
const ASAN_FLAGS: &str = "-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer";

/// The planted bugs of `crates/bareheap-testkit/tests/detector_controls.rs`.
const CONTROLS: &[&str] =
    &["control_heap_buffer_overflow_is_reported", "control_use_after_free_is_reported"];

pub(crate) fn fuzz_dir() -> PathBuf {
    setup::root().join("fuzz")
}

/// The fuzz targets: the file stems of `fuzz/fuzz_targets/*.rs`.
pub(crate) fn fuzz_targets() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Makes sure `cargo fuzz` runs, installing cargo-fuzz from crates.io if needed.
pub(crate) fn ensure_cargo_fuzz() -> Result<(), String> {
    let works = || {
        Command::new(setup::cargo())
            .args(["fuzz", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works() {
        return Ok(());
    }
    println!("xtask: cargo-fuzz not found; cargo install cargo-fuzz --locked");
    let installed = Command::new(setup::cargo())
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .is_ok_and(|s| s.success());
    if installed && works() {
        Ok(())
    } else {
        Err("`cargo install cargo-fuzz --locked` failed".to_owned())
    }
}

/// `cargo xtask fuzz`: every target (or `only`) for `seconds` each, from the committed corpus,
/// under ASan with debug assertions. New inputs go to `fuzz/target/corpus/<target>/`, not to
/// the committed corpus; a crash leaves its input in `fuzz/artifacts/<target>/`.
pub fn fuzz(report: &mut Report, seconds: u64, only: Option<&str>) {
    let targets = fuzz_targets();
    let selected: Vec<&String> =
        targets.iter().filter(|t| only.is_none_or(|o| o == t.as_str())).collect();
    if selected.is_empty() {
        println!("xtask: no fuzz target {only:?}; targets: {targets:?}");
        report.record("fuzz: target selection", false, Instant::now());
        return;
    }
    if let Err(why) = ensure_cargo_fuzz() {
        for t in selected {
            report.skip(&format!("fuzz {t} ({seconds} s)"), &why);
        }
        return;
    }
    for t in selected {
        fuzz_one(report, t, seconds);
    }
}

fn fuzz_one(report: &mut Report, target: &str, seconds: u64) {
    let name = format!("fuzz {target} ({seconds} s, ASan)");
    println!("\n==> {name}");
    let start = Instant::now();
    let scratch = fuzz_dir().join("target").join("corpus").join(target);
    let _ = std::fs::create_dir_all(&scratch);
    let seeds = fuzz_dir().join("corpus").join(target);
    let out = Command::new(setup::cargo())
        .args(["fuzz", "run", "--debug-assertions", "--sanitizer=address", target])
        .arg(&scratch)
        .arg(&seeds)
        .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1"])
        // libFuzzer's progress lines go to stderr: keep the last ones, print the stats.
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", "-Cunsafe-allow-abi-mismatch=sanitizer")
        .current_dir(setup::root())
        .output();
    let ok = match out {
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = err.lines().collect();
            if !out.status.success() {
                for l in &lines[lines.len().saturating_sub(60)..] {
                    println!("  {l}");
                }
            }
            for l in lines.iter().filter(|l| l.starts_with("stat::")) {
                println!("  {target}: {l}");
            }
            let execs = stat(&err, "stat::number_of_executed_units:");
            println!("  {target}: {} executions in {seconds} s", execs.unwrap_or(0));
            // A run that executed nothing proves nothing.
            out.status.success() && execs.is_some_and(|n| n > 0)
        }
        Err(e) => {
            eprintln!("could not start cargo fuzz: {e}");
            false
        }
    };
    report.record(&name, ok, start);
}

/// The number after `key` on its line of libFuzzer's output.
pub(crate) fn stat(output: &str, key: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().parse().ok()
}

/// The fuzz smoke of `cargo xtask test`: every target for `seconds`.
pub fn fuzz_smoke(report: &mut Report, seconds: u64) {
    fuzz(report, seconds, None);
}

/// The library unit tests run under Miri in `cargo xtask test`: every heap module's own tests,
/// its catalogue rows (`cat_*`) included, at the reduced scale their `cfg(miri)` sets; minus
/// the random programs, the exhaustive sweeps and the 32-bit-parameter copy of the Tlsf suite,
/// which take Miri minutes each and run natively in every build. (The whole lib suite took more
/// than 30 minutes under Miri on the 2-core machine; this subset about 2.)
const MIRI_FILTER: &[&str] = &["bump::", "first_fit::", "region::", "slab::", "tlsf::"];
const MIRI_SKIP: &[&str] = &[
    "cat_a1_a2_every_length_and_offset_is_accepted_or_refused_without_stray_writes",
    "random_program",
    "random_ops",
    "allocate_every_class_is_aligned_disjoint_and_in_one_slab",
    "locked_slab_runs_std_collections",
    "class_table_is_minimal_for_every_size_and_alignment",
    "cfg_32bit_default_20_8_8::",
];
/// The testkit's catalogue tests run under Miri too: the `GlobalAlloc` layout grid of every
/// heap (K3) and the 32-bit-shaped requests (H1; not Tlsf's, whose `validate()` after every
/// rig operation takes Miri minutes: Tlsf's own H1-style tests are in the lib subset).
const MIRI_TESTKIT: &[(&str, &[&str])] = &[(
    "catalogue_platform",
    &[
        "cat_k3_",
        "cat_h1_32bit_shaped_sizes_first_fit",
        "cat_h1_32bit_shaped_sizes_bump",
        "cat_h1_32bit_shaped_sizes_slab",
    ],
)];

/// Miri with strict provenance on the heaps' unit and catalogue-row tests, then its negative
/// control.
pub fn miri(report: &mut Report) {
    let name = "Miri (strict provenance): heap modules' unit + catalogue tests";
    if let Err(why) = ensure_nightly_with(&["miri", "rust-src"]) {
        report.skip(name, &why);
        return;
    }
    let miri_cargo = |args: &[&str], flags: &str| {
        let mut cmd = Command::new("rustup");
        cmd.args(["run", "nightly", "cargo", "miri", "test"])
            .args(args)
            .env("MIRIFLAGS", flags)
            .env("CARGO_TARGET_DIR", setup::root().join("target").join("miri"))
            .current_dir(setup::root());
        cmd
    };
    // The tests leak `'static` arenas on purpose (`Box::leak`, as a `static` would be).
    let flags = "-Zmiri-strict-provenance -Zmiri-ignore-leaks";
    let mut cmd = miri_cargo(&["-p", "bareheap", "--lib", "--"], flags);
    cmd.args(MIRI_FILTER);
    for skip in MIRI_SKIP {
        cmd.args(["--skip", skip]);
    }
    report.run(name, cmd);
    for (test, filters) in MIRI_TESTKIT {
        let mut cmd = miri_cargo(&["-p", "bareheap-testkit", "--test", test, "--"], flags);
        cmd.args(*filters);
        report.run(&format!("Miri (strict provenance): testkit --test {test} {filters:?}"), cmd);
    }
    // Negative control: the planted use after free must be reported as undefined behaviour.
    let control = miri_cargo(
        &[
            "-p",
            "bareheap-testkit",
            "--test",
            "detector_controls",
            "--",
            "--ignored",
            "--exact",
            "control_use_after_free_is_reported",
        ],
        "-Zmiri-strict-provenance",
    );
    expect_planted(
        report,
        "Miri negative control: control_use_after_free_is_reported",
        control,
        Planted::Reported(&["Undefined Behavior"]),
    );
}

/// The planted bugs of `detector_controls`, which plain AddressSanitizer must report (the
/// testkit suite itself runs under ASan in [`crate::asan_arena`]).
pub fn asan(report: &mut Report) {
    let target_dir = setup::root().join("target").join("asan");
    let asan_cargo = |args: &[&str]| {
        let mut cmd = Command::new(setup::cargo());
        cmd.args(args)
            .args(["--target", HOST, "-p", "bareheap-testkit"])
            .env("RUSTC_BOOTSTRAP", "1")
            .env("RUSTFLAGS", ASAN_FLAGS)
            .env("RUSTDOCFLAGS", ASAN_FLAGS)
            // Some tests leak arenas on purpose (`Box::leak`, standing in for a `static`), so
            // LeakSanitizer is off; memory errors are what this run is for.
            .env("ASAN_OPTIONS", "detect_leaks=0")
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(setup::root());
        cmd
    };
    // The testkit's whole suite runs under ASan in `asan_arena`, with the heaps poisoning
    // their free space (a strictly stronger check): running it here too, without poisoning,
    // cost 3.5 minutes of CI for nothing more. Only the planted bugs run here.
    for control in CONTROLS {
        let mut cmd = asan_cargo(&["test", "--test", "detector_controls"]);
        cmd.args(["--", "--ignored", "--exact", control]);
        expect_planted(
            report,
            &format!("ASan negative control: {control}"),
            cmd,
            Planted::Reported(&["AddressSanitizer"]),
        );
    }
}

/// ThreadSanitizer on the threaded stress (every heap behind every thread-safe wrapper), then
/// the planted data race (a `Relaxed` spin lock), which TSan must report.
///
/// Nightly with `-Zbuild-std`, so that std (thread spawn and join, the `std` critical-section
/// mutex) is instrumented too: on stable with `RUSTC_BOOTSTRAP=1`, uninstrumented std's thread
/// join gave thousands of false reports (RELIABILITY.md §2). No suppressions are used.
pub fn tsan(report: &mut Report) {
    let name = "TSan: testkit --test threads (8 threads, every heap x wrapper)";
    if let Err(why) = ensure_nightly_with(&["rust-src"]) {
        report.skip(name, &why);
        report.skip("TSan negative control", &why);
        return;
    }
    let tsan_cargo = |ops: &str| {
        let mut cmd = Command::new("rustup");
        cmd.args(["run", "nightly", "cargo", "test", "-Zbuild-std", "--target", HOST])
            .args(["-p", "bareheap-testkit", "--test", "threads"])
            .env("RUSTFLAGS", "-Zsanitizer=thread")
            .env("BAREHEAP_THREAD_OPS", ops)
            .env("CARGO_TARGET_DIR", setup::root().join("target").join("tsan"))
            .current_dir(setup::root());
        cmd
    };
    // 2,500 operations per thread: 20,000 per heap x wrapper (TSan runs 5-15 times slower).
    let ok = report.run(name, tsan_cargo(TSAN_OPS_PER_THREAD));
    if !ok {
        return;
    }
    let mut control = tsan_cargo("300");
    control
        .args(["--", "--ignored", "--exact", "control_relaxed_spin_lock_data_race_is_reported"])
        // Stop at the first report: one is the proof, the rest would take minutes.
        .env("TSAN_OPTIONS", "halt_on_error=1");
    expect_planted(
        report,
        "TSan negative control: control_relaxed_spin_lock_data_race_is_reported",
        control,
        Planted::Reported(&["ThreadSanitizer: data race"]),
    );
}

/// The loom models of the Spin lock, the re-entry detectors and AtomicBump's CAS (their own
/// package, `crates/bareheap-testkit/loom`, built with `--cfg loom`), including the planted
/// `Relaxed` lock that loom must report. Each model prints the interleavings it explored.
pub fn loom(report: &mut Report) {
    let manifest = setup::root().join("crates/bareheap-testkit/loom/Cargo.toml");
    let mut cmd = Command::new(setup::cargo());
    cmd.args(["test", "--release", "--manifest-path"])
        .arg(manifest)
        .args(["--", "--nocapture", "--test-threads=1"])
        .env("RUSTFLAGS", "--cfg loom")
        .env("LOOM_MAX_PREEMPTIONS", "3")
        .env("CARGO_TARGET_DIR", setup::root().join("target").join("loom"))
        .current_dir(setup::root());
    report.run("loom models: Spin, re-entry detectors, AtomicBump CAS (max preemptions 3)", cmd);
}

/// Makes sure the nightly toolchain and its `components` are installed.
fn ensure_nightly_with(components: &[&str]) -> Result<(), String> {
    if !setup::ensure_toolchain("nightly") {
        return Err("rustup could not install the nightly toolchain".to_owned());
    }
    let added = Command::new("rustup")
        .args(["component", "add", "--toolchain", "nightly"])
        .args(components)
        .status()
        .is_ok_and(|s| s.success());
    if added {
        Ok(())
    } else {
        Err(format!("rustup could not add {} on nightly", components.join(", ")))
    }
}

/// What a planted-bug run must show.
pub(crate) enum Planted<'a> {
    /// The detector reports it: the command fails and a line of its output contains one of
    /// these markers.
    Reported(&'a [&'a str]),
    /// The detector stays silent: the command passes its one test and no line contains this
    /// marker (e.g. plain ASan on an error inside an arena it sees as one valid object).
    Silent(&'a str),
}

/// Runs `cmd`, which executes a planted bug, and passes only if the detector did what
/// `expect` says. Every negative control of `cargo xtask test` goes through here.
pub(crate) fn expect_planted(report: &mut Report, name: &str, mut cmd: Command, expect: Planted) {
    println!("\n==> {name}");
    let start = Instant::now();
    let ok = match cmd.output() {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let ok = match expect {
                Planted::Reported(markers) => {
                    let found = text.lines().find(|l| markers.iter().any(|m| l.contains(m)));
                    match found {
                        Some(line) if !out.status.success() => {
                            println!("  reported as expected: {}", line.trim());
                            true
                        }
                        _ => {
                            println!("{text}");
                            println!("  the planted bug was NOT reported ({markers:?})");
                            false
                        }
                    }
                }
                Planted::Silent(marker) => {
                    let ok =
                        out.status.success() && text.contains("1 passed") && !text.contains(marker);
                    if ok {
                        println!("  not reported, as expected");
                    } else {
                        println!("{text}");
                        println!("  expected a clean run without `{marker}`");
                    }
                    ok
                }
            };
            ok
        }
        Err(e) => {
            eprintln!("could not start {cmd:?}: {e}");
            false
        }
    };
    report.record(name, ok, start);
}

/// The test executables `cargo test --no-run <args>` builds, by target name.
fn test_executables(args: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let out = Command::new(setup::cargo())
        .args(["test", "--no-run", "--message-format=json"])
        .args(args)
        .current_dir(setup::root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err("cargo test --no-run failed".to_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut exes = Vec::new();
    for line in text.lines().filter(|l| l.contains("\"executable\":\"")) {
        let field = |key: &str| {
            let start = line.find(key)? + key.len();
            let len = line[start..].find('"')?;
            Some(line[start..start + len].to_owned())
        };
        if let (Some(name), Some(exe)) = (field("\"name\":\""), field("\"executable\":\"")) {
            exes.push((name, PathBuf::from(exe)));
        }
    }
    Ok(exes)
}

fn valgrind_cmd(valgrind: &Path, exe: &Path) -> Command {
    let mut cmd = Command::new(valgrind);
    cmd.args(["-q", "--error-exitcode=1", "--leak-check=no"])
        .arg(exe)
        .arg("--test-threads=1")
        .current_dir(setup::root());
    cmd
}

/// valgrind memcheck on the non-sanitized test binaries `tests` of the testkit, then the
/// planted bugs, which memcheck must report.
pub fn valgrind(report: &mut Report, tests: &[&str]) {
    let valgrind = match setup::ensure_program("valgrind", "valgrind") {
        Ok(path) => path,
        Err(why) => {
            report.skip("valgrind memcheck", &why);
            return;
        }
    };
    let mut args = vec!["-p", "bareheap-testkit"];
    for t in tests.iter().chain(["detector_controls"].iter()) {
        args.extend(["--test", t]);
    }
    let exes = match test_executables(&args) {
        Ok(exes) => exes,
        Err(why) => {
            report.record(&format!("valgrind memcheck: build ({why})"), false, Instant::now());
            return;
        }
    };
    for t in tests {
        match exes.iter().find(|(n, _)| n == t) {
            Some((_, exe)) => {
                report.run(
                    &format!("valgrind memcheck: testkit --test {t}"),
                    valgrind_cmd(&valgrind, exe),
                );
            }
            None => report.record(
                &format!("valgrind memcheck: no binary for {t}"),
                false,
                Instant::now(),
            ),
        }
    }
    let Some((_, controls)) = exes.iter().find(|(n, _)| n == "detector_controls") else {
        report.record("valgrind negative controls: no binary", false, Instant::now());
        return;
    };
    for control in CONTROLS {
        let mut cmd = valgrind_cmd(&valgrind, controls);
        cmd.args(["--ignored", "--exact", control]);
        // memcheck prefixes its reports with `==<pid>==`; an invalid access names itself.
        expect_planted(
            report,
            &format!("valgrind negative control: {control}"),
            cmd,
            Planted::Reported(&["Invalid "]),
        );
    }
}

/// The host interrupt model (its own package, see `crates/bareheap-testkit/isr/Cargo.toml`),
/// in release: with a signal-mask critical section the SIGALRM handler must never find the heap
/// busy (its negative control, the `std` critical section, which must show re-entries, runs
/// with the testkit's tests); with `Spin::with_core_id` it must find the lock held by the
/// context it interrupted, get null and never deadlock (a watchdog aborts on a stall; its
/// control, the old two-word spin lock, must deadlock).
pub fn isr(report: &mut Report) {
    let manifest = setup::root().join("crates/bareheap-testkit/isr/Cargo.toml");
    let mut cmd = Command::new(setup::cargo());
    cmd.args(["test", "--release", "--manifest-path"])
        .arg(manifest)
        .args(["--", "--nocapture"])
        .env("CARGO_TARGET_DIR", setup::root().join("target").join("isr"))
        .current_dir(setup::root());
    report.run(
        "ISR model: SIGALRM handler vs main loop, sigmask critical section and Spin::with_core_id",
        cmd,
    );
}

/// Every reliability step of `cargo xtask test`, also runnable alone (`cargo xtask reliability`).
///
/// Miri interprets on one core and libFuzzer fuzzes on one core, so Miri runs in a thread beside
/// the fuzz smoke, ASan and valgrind steps (its commands' output goes to `target/xtask-miri.log`,
/// printed if a Miri step fails): about four minutes less on two cores.
pub fn all(report: &mut Report) {
    catalogue(report);
    isr(report);
    // Installs nightly with Miri here, not in the thread, so that no two rustup runs overlap
    // (a failure is reported by `miri` itself, which asks again).
    let _ = ensure_nightly_with(&["miri", "rust-src"]);
    let log = setup::root().join("target").join("xtask-miri.log");
    let miri_report = match Report::logging_to(&log) {
        Ok(mut beside) => Some(std::thread::spawn(move || {
            miri(&mut beside);
            beside
        })),
        Err(e) => {
            println!("cannot write {}: {e}; Miri runs after the others", log.display());
            None
        }
    };
    fuzz_smoke(report, FUZZ_SMOKE_SECONDS);
    asan(report);
    valgrind(report, VALGRIND_TESTS);
    match miri_report {
        Some(thread) => match thread.join() {
            Ok(beside) => {
                let failed = beside.failed_any();
                report.merge(beside);
                if failed {
                    println!("\n==> Miri output ({})", log.display());
                    println!("{}", std::fs::read_to_string(&log).unwrap_or_default());
                }
            }
            Err(_) => report.record("Miri (its thread panicked)", false, std::time::Instant::now()),
        },
        None => miri(report),
    }
    tsan(report);
    loom(report);
}

/// Operations per thread of the TSan run of the threaded stress.
const TSAN_OPS_PER_THREAD: &str = "2500";
/// Seconds per fuzz target in `cargo xtask test` (longer runs: `cargo xtask fuzz`).
const FUZZ_SMOKE_SECONDS: u64 = 60;
/// The testkit test binaries run under valgrind memcheck: the corpus replay drives every heap
/// and the GlobalAlloc wrapper through the rig (about a minute under memcheck; `harness`, with
/// its many should-panic tests, took four and a half).
const VALGRIND_TESTS: &[&str] = &["fuzz_corpus"];

/// The committed row list of the catalogue (RELIABILITY.md §3).
const CATALOGUE_ROWS: &str = "crates/bareheap-testkit/catalogue-rows.txt";

/// Catalogue coverage (R1): every applicable row of `catalogue-rows.txt` must have a test named
/// `cat_<row>_...` (a `fn` or a `mod`, e.g. `cat_d1_d2_moving_grow` covers D1 and D2) in some
/// `.rs` file of the repository. Rows marked `n/a` are listed; rows marked `pending` are
/// SKIPPED loudly, never counted as covered.
pub fn catalogue(report: &mut Report) {
    let name = "catalogue coverage: a cat_<row>_ test for every applicable row";
    println!("\n==> {name}");
    let start = Instant::now();
    let rows = match std::fs::read_to_string(setup::root().join(CATALOGUE_ROWS)) {
        Ok(text) => text,
        Err(e) => {
            println!("  cannot read {CATALOGUE_ROWS}: {e}");
            report.record(name, false, start);
            return;
        }
    };
    let mut tests: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut files = Vec::new();
    rust_files(&setup::root(), &mut files);
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (row, test) in cat_tests(&text) {
            tests.entry(row).or_default().push(test);
        }
    }
    let (mut covered, mut missing, mut na, mut pending) = (0, Vec::new(), 0, Vec::new());
    for line in rows.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut fields = line.split('|').map(str::trim);
        let (Some(id), Some(scope)) = (fields.next(), fields.next()) else {
            println!("  malformed row: {line}");
            report.record(name, false, start);
            return;
        };
        let found = tests.get(&id.to_ascii_lowercase()).map_or(0, Vec::len);
        if let Some(why) = scope.strip_prefix("n/a:") {
            println!("  {id}: n/a ({})", why.trim());
            na += 1;
        } else if let Some(why) = scope.strip_prefix("pending:") {
            pending.push((id.to_owned(), why.trim().to_owned(), found));
        } else if found > 0 {
            println!("  {id}: {found} test(s) [{scope}]");
            covered += 1;
        } else {
            println!("  {id}: NO TEST named cat_{}_* [{scope}]", id.to_ascii_lowercase());
            missing.push(id.to_owned());
        }
    }
    let total = covered + missing.len() + na + pending.len();
    println!(
        "  rows: {total}; covered {covered}, missing {}, pending {}, n/a {na}",
        missing.len(),
        pending.len()
    );
    report.record(name, missing.is_empty() && total > 0, start);
    for (id, why, found) in pending {
        report.skip(
            &format!("catalogue row {id} ({found} test(s) so far)"),
            &format!("pending: {why}"),
        );
    }
}

/// Every `.rs` file under `dir`, skipping build output and VCS directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// `(row, test name)` for each test named `cat_...` in `text`: a `fn cat_...`, a `mod cat_...`
/// (a test per heap inside), or a line starting `cat_...:` (an entry of a test-defining macro).
/// The leading `x<digits>_` groups after `cat_` are the rows (`cat_d1_d2_moving` covers `d1`
/// and `d2`).
fn cat_tests(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        let line = ["pub ", "pub(crate) ", "pub(super) "]
            .iter()
            .find_map(|p| line.strip_prefix(p))
            .unwrap_or(line);
        let rest = ["fn ", "mod "]
            .iter()
            .find_map(|k| line.strip_prefix(k))
            .or_else(|| line.contains(':').then_some(line));
        let Some(rest) = rest.filter(|r| r.starts_with("cat_")) else { continue };
        let ident: String =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        for g in ident["cat_".len()..].split('_') {
            let mut chars = g.chars();
            let row = matches!(chars.next(), Some('a'..='k'))
                && !chars.as_str().is_empty()
                && chars.all(|c| c.is_ascii_digit());
            if !row {
                break;
            }
            out.push((g.to_owned(), ident.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{expect_planted, Planted};
    use crate::report::Report;
    use std::process::Command;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    /// Whether `expect_planted` passes a command running `script`.
    fn passes(script: &str, expect: Planted) -> bool {
        let mut report = Report::new();
        expect_planted(&mut report, "control", sh(script), expect);
        !report.failed_any()
    }

    #[test]
    fn expect_planted_passes_only_the_expected_detector_outcome() {
        let reported = Planted::Reported(&["AddressSanitizer: use-after-poison"]);
        assert!(passes("echo '==1==ERROR: AddressSanitizer: use-after-poison'; exit 1", reported));
        let reported = Planted::Reported(&["AddressSanitizer: use-after-poison"]);
        assert!(!passes("echo 'AddressSanitizer: use-after-poison'; exit 0", reported));
        let reported = Planted::Reported(&["ThreadSanitizer: data race"]);
        assert!(!passes("echo 'panicked'; exit 101", reported));
        let silent = || Planted::Silent("ERROR: AddressSanitizer");
        assert!(passes("echo 'test result: ok. 1 passed'", silent()));
        assert!(!passes("echo 'ERROR: AddressSanitizer'; echo '1 passed'", silent()));
        assert!(!passes("echo '1 passed'; exit 1", silent()));
        assert!(!passes("echo '0 passed'", silent()));
    }
}
