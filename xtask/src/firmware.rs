//! The firmware: the demo and the on-target tests, run in QEMU on every board of
//! `firmware/boards.rs` (Cortex-M0, M3, M4F, M7, M33, RISC-V RV32IMAC and RV32I).
//!
//! Every program in `firmware/src/bin/` is a test except `demo` (run by `cargo xtask demo`,
//! and as a test that it prints `[42, 83]`); QEMU's exit status is the verdict (the firmware
//! ends with a semihosting exit). The `verdict_*` programs must fail with a known status: that
//! proves a failing program cannot be mistaken for a passing one, on every core.
//!
//! `cargo xtask test` ends with a matrix program × board. A board whose target or QEMU cannot
//! be installed is SKIPPED (and said so in the matrix), never passed.
//! `BAREHEAP_BOARDS=<name>,<name>` limits the run to some boards (the others are SKIPPED).
//! `c_interop` (C and Rust sharing one heap) needs a cross C compiler: Debian's
//! `gcc-arm-none-eabi` (installed when missing) or `clang`; it runs on the Cortex-M3 board only,
//! and is SKIPPED elsewhere or without a compiler.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::report::Report;
use crate::setup::{self, Toolchain};

/// The board table, shared with `firmware/build.rs` (which uses the memory maps).
#[allow(dead_code)]
mod boards {
    include!("../../firmware/boards.rs");
}

pub use boards::{Board, BOARDS};

/// The board `cargo xtask demo` runs on unless told otherwise.
pub const DEMO_BOARD: &str = "lm3s6965evb";

/// Programs that must fail, and the exit status they must fail with.
const MUST_FAIL: &[(&str, i32)] =
    &[("verdict_panic", 1), ("verdict_hardfault", 2), ("verdict_overlap", 1)];

/// What the demo must print.
const DEMO_EXPECTS: &str = "[42, 83]";

/// Why bareheap without features must not build for a target without compare-and-swap.
const NO_CAS_ERROR: &str = "enable bareheap's `critical-section` feature";

/// The program whose C half (`firmware/c/`) needs a cross C compiler, and the one target it
/// is built for (see `firmware/build.rs`). Elsewhere, or without a compiler, it is SKIPPED.
const C_PROGRAM: &str = "c_interop";
const C_TARGET: &str = "thumbv7m-none-eabi";

const DEMO_TIMEOUT: Duration = Duration::from_secs(60);
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn firmware_dir() -> PathBuf {
    setup::root().join("firmware")
}

/// Builds and runs the demo firmware in QEMU on `board` (default [`DEMO_BOARD`]), then shows
/// its flash and RAM size.
pub fn demo(report: &mut Report, board: Option<&str>) {
    let name = board.unwrap_or(DEMO_BOARD);
    let Some(board) = boards::board_named(name) else {
        let known: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
        println!("no board {name:?}; the boards are: {}", known.join(", "));
        report.record(&format!("demo on {name}"), false, Instant::now());
        return;
    };
    let mut tools = Tools::default();
    let toolchain = match tools.prepare(board) {
        Ok(toolchain) => toolchain,
        Err(why) => {
            println!("\n!!! the demo cannot run on this machine: {why}");
            report.skip("firmware: demo", &why);
            return;
        }
    };
    if !build(report, board, toolchain, Some("demo")) {
        return;
    }
    let elf = out_dir(board, toolchain).join("demo");
    run_program(report, board, &elf, "demo", 0, Some(DEMO_EXPECTS), DEMO_TIMEOUT);
    match elf_sizes(&elf) {
        Ok(sizes) => sizes.print("demo"),
        Err(e) => println!("could not read the size of {}: {e}", elf.display()),
    }
}

/// Checks formatting, then for every board: installs its target and QEMU, lints and builds
/// the firmware, and runs each program in QEMU as its own check. Ends with the matrix.
pub fn test(report: &mut Report) {
    let programs = programs();
    let start = Instant::now();

    let mut fmt = Command::new(setup::cargo());
    fmt.args(["fmt", "--check"]).current_dir(firmware_dir());
    report.run("firmware: fmt", fmt);

    let selected = std::env::var("BAREHEAP_BOARDS").unwrap_or_default();
    let selected: Vec<&str> =
        selected.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut tools = Tools::default();
    let mut matrix = Matrix::default();
    for board in BOARDS {
        if !selected.is_empty() && !selected.contains(&board.name) {
            let why = "not in BAREHEAP_BOARDS".to_owned();
            for name in &programs {
                report.skip(&check_name(board, name), &why);
            }
            matrix.board(board, Cell::Skipped, why, Duration::ZERO);
            continue;
        }
        let board_start = Instant::now();
        let toolchain = match tools.prepare(board) {
            Ok(toolchain) => toolchain,
            Err(why) => {
                println!("\n!!! firmware checks cannot run on {}: {why}", board.name);
                for name in &programs {
                    report.skip(&check_name(board, name), &why);
                }
                matrix.board(board, Cell::Skipped, why, board_start.elapsed());
                continue;
            }
        };
        tools.target_checks(report, board, toolchain);
        let mut cmd_env = Vec::new();
        if board.target == C_TARGET {
            let cc = tools.cross_cc.get_or_insert_with(cross_cc);
            if let Ok(Some(clang)) = cc {
                cmd_env.push(("CC_thumbv7m_none_eabi", clang.clone()));
            }
        }
        if !build_with(report, board, toolchain, None, &cmd_env) {
            for name in &programs {
                report.record(&check_name(board, name), false, Instant::now());
            }
            matrix.board(board, Cell::Fail, "build failed".to_owned(), board_start.elapsed());
            continue;
        }
        let out = out_dir(board, toolchain);
        let mut results = Vec::new();
        for name in &programs {
            if name == C_PROGRAM {
                let why = match (board.target == C_TARGET, &tools.cross_cc) {
                    (false, _) => Some(format!("its C half is built for {C_TARGET} only")),
                    (true, Some(Err(why))) => Some(why.clone()),
                    (true, _) => None,
                };
                if let Some(why) = why {
                    if board.target == C_TARGET {
                        println!("\n!!! {C_PROGRAM} cannot run on {}: {why}", board.name);
                    }
                    report.skip(&check_name(board, name), &why);
                    results.push((name.clone(), Cell::Skipped));
                    continue;
                }
            }
            let expect = MUST_FAIL.iter().find(|(n, _)| n == name).map_or(0, |&(_, status)| status);
            let output = (name == "demo").then_some(DEMO_EXPECTS);
            let ok =
                run_program(report, board, &out.join(name), name, expect, output, TEST_TIMEOUT);
            results.push((name.clone(), if ok { Cell::Pass } else { Cell::Fail }));
        }
        let note = format!("{toolchain:?} toolchain");
        matrix.board(board, Cell::Pass, note, board_start.elapsed());
        for (name, cell) in results {
            matrix.cell(board, &name, cell);
        }
    }
    matrix.print(&programs, start.elapsed());
}

/// The check name of `program` on `board`.
fn check_name(board: &Board, program: &str) -> String {
    format!("firmware {}: {program}", board.name)
}

/// The firmware programs: the file names in `firmware/src/bin/`, sorted.
fn programs() -> Vec<String> {
    let dir = firmware_dir().join("src/bin");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What was installed (or found missing) so far, so that boards sharing a target or a QEMU
/// ask once, and the per-target checks run once.
#[derive(Default)]
struct Tools {
    targets: BTreeMap<&'static str, Result<Toolchain, String>>,
    /// The cross C compiler for [`C_TARGET`], once looked for: `Ok(None)` for
    /// `arm-none-eabi-gcc` (`cc`'s default), `Ok(Some(clang))`, or why there is none.
    cross_cc: Option<Result<Option<PathBuf>, String>>,
    programs: BTreeMap<&'static str, Result<(), String>>,
    checked: Vec<&'static str>,
}

impl Tools {
    /// Installs what building and running for `board` needs.
    ///
    /// # Errors
    ///
    /// Why it cannot run here (the target or QEMU cannot be installed).
    fn prepare(&mut self, board: &Board) -> Result<Toolchain, String> {
        let toolchain = self
            .targets
            .entry(board.target)
            .or_insert_with(|| setup::ensure_target(board.target))
            .clone()
            .map_err(|why| format!("cannot build for {}: {why}", board.target))?;
        self.programs
            .entry(board.qemu)
            .or_insert_with(|| setup::ensure_program(board.qemu, board.qemu_package).map(drop))
            .clone()
            .map_err(|why| format!("{} unavailable: {why}", board.qemu))?;
        Ok(toolchain)
    }

    /// Once per target: clippy on the firmware, and whether bareheap without features builds
    /// (it must where the target has compare-and-swap, and must fail with a clear message
    /// where it has not).
    fn target_checks(&mut self, report: &mut Report, board: &Board, toolchain: Toolchain) {
        if self.checked.contains(&board.target) {
            return;
        }
        self.checked.push(board.target);
        if toolchain.has_clippy() {
            let mut clippy = toolchain.cargo("clippy", board.target, &firmware_dir());
            clippy.args(["--release", "--lib", "--bins", "--", "-D", "warnings"]);
            clippy
                .env("BAREHEAP_BOARD", board.name)
                .env("CARGO_TARGET_DIR", target_dir(board, toolchain));
            report.run(&format!("firmware: clippy ({})", board.target), clippy);
        } else {
            report.skip(
                &format!("firmware: clippy ({})", board.target),
                "Debian's Rust toolchain has no clippy",
            );
        }
        if toolchain == Toolchain::Rustup {
            // The firmware build covers the library with `critical-section`; this covers it
            // without features.
            cat_h3_no_cas_targets_need_the_critical_section_lock(report, board.target, toolchain);
        } else {
            report.skip(
                &format!("bareheap without features for {}", board.target),
                "with Debian's toolchain it would rebuild `core` for minutes",
            );
        }
    }
}

/// `cargo build -p bareheap` (no features) for `target`: must pass where the target has
/// compare-and-swap, must fail with [`NO_CAS_ERROR`] where it has not.
fn cat_h3_no_cas_targets_need_the_critical_section_lock(
    report: &mut Report,
    target: &str,
    toolchain: Toolchain,
) {
    let mut lib = toolchain.cargo("build", target, &setup::root());
    lib.args(["-p", "bareheap"]);
    if has_cas(target) {
        report.run(&format!("bareheap builds for {target} (no features)"), lib);
        return;
    }
    let name = format!("bareheap without `critical-section` is refused for {target} (no CAS)");
    println!("\n==> {name}");
    let start = Instant::now();
    let ok = match lib.output() {
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let refused = !out.status.success() && stderr.contains(NO_CAS_ERROR);
            if !refused {
                println!("{stderr}\nexpected the build to fail with {NO_CAS_ERROR:?}");
            }
            refused
        }
        Err(e) => {
            println!("could not start cargo: {e}");
            false
        }
    };
    report.record(&name, ok, start);
}

/// Whether `target` has compare-and-swap on pointers (`target_has_atomic = "ptr"`).
fn has_cas(target: &str) -> bool {
    let out = Command::new("rustc").args(["--print", "cfg", "--target", target]).output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("target_has_atomic=\"ptr\""))
}

/// The firmware's target directory for `board`: the usual one (shared by the boards of
/// different targets, and by `cargo run` in `firmware/`) for the first board of each target;
/// one of its own for a second board of the same target (its `memory.x` and constants differ,
/// so sharing would rebuild the firmware at every switch).
fn target_dir(board: &Board, toolchain: Toolchain) -> PathBuf {
    let base = match toolchain {
        Toolchain::Rustup => firmware_dir().join("target"),
        Toolchain::Debian => firmware_dir().join("target/debian"),
    };
    let first = boards::default_board(board.target).is_some_and(|b| b.name == board.name);
    if first {
        base
    } else {
        base.join("boards").join(board.name)
    }
}

/// Where the firmware programs of `board` are.
fn out_dir(board: &Board, toolchain: Toolchain) -> PathBuf {
    target_dir(board, toolchain).join(board.target).join("release")
}

/// `cargo build --release` of the firmware for `board` (`only` one program, or all).
/// The cross C compiler for [`C_TARGET`]: Debian's `arm-none-eabi-gcc` (installed if
/// missing and we are root), else `clang`.
fn cross_cc() -> Result<Option<PathBuf>, String> {
    match setup::ensure_program("arm-none-eabi-gcc", "gcc-arm-none-eabi") {
        Ok(_) => Ok(None),
        Err(gcc) => match setup::which("clang") {
            Some(clang) => Ok(Some(clang)),
            None => Err(format!("no cross C compiler (arm-none-eabi-gcc: {gcc}; no clang)")),
        },
    }
}

fn build(report: &mut Report, board: &Board, toolchain: Toolchain, only: Option<&str>) -> bool {
    build_with(report, board, toolchain, only, &[])
}

/// [`build`] with extra environment variables (the cross C compiler).
fn build_with(
    report: &mut Report,
    board: &Board,
    toolchain: Toolchain,
    only: Option<&str>,
    env: &[(&str, PathBuf)],
) -> bool {
    let mut cmd = toolchain.cargo("build", board.target, &firmware_dir());
    cmd.envs(env.iter().map(|(k, v)| (*k, v)));
    cmd.arg("--release")
        .env("BAREHEAP_BOARD", board.name)
        .env("CARGO_TARGET_DIR", target_dir(board, toolchain));
    match only {
        Some(bin) => cmd.args(["--bin", bin]),
        None => cmd.arg("--bins"),
    };
    let what = only.unwrap_or("all programs");
    let name = format!("firmware {}: build {what} ({}, {toolchain:?})", board.name, board.target);
    report.run(&name, cmd)
}

/// Runs `elf` in QEMU on `board` with a timeout, streaming its output; passes if QEMU exits
/// with `expect_status` (and the output contains `expect_output`, if given).
fn run_program(
    report: &mut Report,
    board: &Board,
    elf: &Path,
    name: &str,
    expect_status: i32,
    expect_output: Option<&str>,
    timeout: Duration,
) -> bool {
    let check = if expect_status == 0 {
        check_name(board, name)
    } else {
        format!("{} must exit with status {expect_status}", check_name(board, name))
    };
    println!("\n==> {check}");
    let start = Instant::now();
    let mut cmd = Command::new(board.qemu);
    cmd.args(board.qemu_args)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            println!("could not start {}: {e}", board.qemu);
            report.record(&check, false, start);
            return false;
        }
    };
    let seen = Arc::new(Mutex::new(String::new()));
    let readers = [
        child.stdout.take().map(|out| echo_lines(out, Arc::clone(&seen))),
        child.stderr.take().map(|err| echo_lines(err, Arc::clone(&seen))),
    ];
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status.code(),
        Ok(None) => {
            println!("TIMEOUT: {name} still running after {} s; killed", timeout.as_secs());
            let _ = child.kill();
            let _ = child.wait();
            None
        }
        Err(e) => {
            println!("waiting for QEMU failed: {e}");
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    };
    for reader in readers.into_iter().flatten() {
        let _ = reader.join();
    }
    let output = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let mut ok = status == Some(expect_status);
    if !ok {
        println!("{name}: exit status {status:?}, expected {expect_status}");
    }
    if let Some(expected) = expect_output {
        if !output.contains(expected) {
            println!("{name}: the output does not contain {expected:?}");
            ok = false;
        }
    }
    report.record(&check, ok, start);
    ok
}

/// Prints each line of `stream` indented, and keeps it in `seen`. QEMU's warning about the
/// board's unused timers is dropped.
fn echo_lines(
    stream: impl Read + Send + 'static,
    seen: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if line == "Timer with period zero, disabling" {
                continue;
            }
            println!("    | {line}");
            if let Ok(mut seen) = seen.lock() {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
    })
}

/// One cell of the matrix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cell {
    Pass,
    Fail,
    Skipped,
}

impl Cell {
    fn text(self) -> &'static str {
        match self {
            Cell::Pass => "PASS",
            Cell::Fail => "FAIL",
            Cell::Skipped => "SKIPPED",
        }
    }
}

/// The outcome of every program on every board.
#[derive(Default)]
struct Matrix {
    /// Per board, in table order: the board, its state when no program ran (`Skipped` or
    /// `Fail` for a failed build), a note, and the time it took.
    boards: Vec<(&'static Board, Cell, String, Duration)>,
    cells: BTreeMap<(&'static str, String), Cell>,
}

impl Matrix {
    fn board(&mut self, board: &'static Board, state: Cell, note: String, time: Duration) {
        self.boards.push((board, state, note, time));
    }

    fn cell(&mut self, board: &'static Board, program: &str, cell: Cell) {
        self.cells.insert((board.name, program.to_owned()), cell);
    }

    fn print(&self, programs: &[String], total: Duration) {
        const FIRST: usize = 18;
        let width = |b: &Board| b.name.len().max(core_label(b).len()).max(7) + 2;
        println!("\n==> firmware matrix: program x board (QEMU)");
        let mut cores = format!("{:FIRST$}", "");
        let mut names = format!("{:FIRST$}", "program");
        for (board, ..) in &self.boards {
            let w = width(board);
            cores.push_str(&format!("{:w$}", core_label(board)));
            names.push_str(&format!("{:w$}", board.name));
        }
        println!("{cores}\n{names}");
        for program in programs {
            let mut row = format!("{program:FIRST$}");
            for (board, state, ..) in &self.boards {
                let w = width(board);
                let cell = self.cells.get(&(board.name, program.clone())).copied();
                row.push_str(&format!("{:w$}", cell.unwrap_or(*state).text()));
            }
            println!("{row}");
        }
        for (board, state, note, time) in &self.boards {
            let what = match state {
                Cell::Skipped => format!("SKIPPED: {note}"),
                Cell::Fail => format!("FAIL: {note}"),
                Cell::Pass => note.clone(),
            };
            println!(
                "  {:<15} {:<26} {:>6.1} s  {what}",
                board.name,
                board.core,
                time.as_secs_f64()
            );
        }
        println!("  firmware total: {:.1} s", total.as_secs_f64());
    }
}

/// A short name of the board's core for the matrix header.
fn core_label(board: &Board) -> &'static str {
    let core = board.core;
    let core = core.strip_prefix("Cortex-").unwrap_or(core);
    let core = core.strip_prefix("RISC-V ").unwrap_or(core);
    core.split(' ').next().unwrap_or(core)
}

/// The memory a firmware image takes.
struct Sizes {
    /// Vector table, code and constants, and the initial values of `.data`.
    flash: u64,
    /// `.data` and `.bss` (the rest of RAM is the stack).
    ram: u64,
    /// The heap arena's share of `ram`, if its symbol was found.
    heap: Option<u64>,
    text: u64,
    rodata: u64,
    data: u64,
    bss: u64,
}

impl Sizes {
    fn print(&self, name: &str) {
        println!(
            "\n{name} firmware size: flash {} bytes (.text {} + .rodata {} + vectors and .data \
             {}), RAM {} bytes static (.data {} + .bss {})",
            self.flash,
            self.text,
            self.rodata,
            self.flash - self.text - self.rodata,
            self.ram,
            self.data,
            self.bss
        );
        if let Some(heap) = self.heap {
            println!(
                "{name}: of that RAM, {heap} bytes are the heap arena, {} bytes everything else",
                self.ram.saturating_sub(heap)
            );
        }
    }
}

/// Reads the section sizes of a firmware ELF.
fn elf_sizes(elf: &Path) -> Result<Sizes, String> {
    use object::{Object, ObjectSection, ObjectSymbol};
    let bytes = std::fs::read(elf).map_err(|e| e.to_string())?;
    let file = object::File::parse(&*bytes).map_err(|e| e.to_string())?;
    let size = |name: &str| file.section_by_name(name).map_or(0, |s| s.size());
    // cortex-m-rt's vector table, or riscv-rt's `.init` and `.trap` entry code.
    let vectors = size(".vector_table") + size(".init") + size(".trap");
    let (text, rodata) = (size(".text"), size(".rodata"));
    let (data, bss, uninit) = (size(".data"), size(".bss"), size(".uninit"));
    let heap = file.symbols().find(|s| s.name().is_ok_and(|n| n.contains("HEAP_MEMORY")));
    Ok(Sizes {
        flash: vectors + text + rodata + data,
        ram: data + bss + uninit,
        heap: heap.map(|s| s.size()),
        text,
        rodata,
        data,
        bss: bss + uninit,
    })
}
