//! The Cortex-M firmware: the demo and the on-target tests, run in QEMU.
//!
//! Every program in `firmware/src/bin/` is a test except `demo` (run by `cargo xtask demo`,
//! and as a test that it prints `[42, 83]`); QEMU's exit status is the verdict (the firmware
//! ends with a semihosting exit). The `verdict_*` programs must fail with a known status: that
//! proves a failing program cannot be mistaken for a passing one.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::report::Report;
use crate::setup::{self, Toolchain};

/// A machine QEMU emulates, and how to build for it. Its memory map is
/// `firmware/boards/<name>/memory.x`; the firmware's build script picks it by `BAREHEAP_BOARD`.
pub struct Board {
    /// The folder under `firmware/boards/`.
    pub name: &'static str,
    /// The Rust target.
    pub target: &'static str,
    /// The QEMU program.
    pub qemu: &'static str,
    /// The Debian package that has it.
    pub qemu_package: &'static str,
    /// QEMU's arguments before `-kernel <elf>`.
    pub qemu_args: &'static [&'static str],
}

/// TI Stellaris LM3S6965: Cortex-M3, 256 KiB flash, 64 KiB RAM.
pub const LM3S6965EVB: Board = Board {
    name: "lm3s6965evb",
    target: "thumbv7m-none-eabi",
    qemu: "qemu-system-arm",
    qemu_package: "qemu-system-arm",
    qemu_args: &[
        "-cpu",
        "cortex-m3",
        "-machine",
        "lm3s6965evb",
        "-nographic",
        "-semihosting-config",
        "enable=on,target=native",
    ],
};

/// Programs that must fail, and the exit status they must fail with.
const MUST_FAIL: &[(&str, i32)] =
    &[("verdict_panic", 1), ("verdict_hardfault", 2), ("verdict_overlap", 1)];

/// What the demo must print.
const DEMO_EXPECTS: &str = "[42, 83]";

const DEMO_TIMEOUT: Duration = Duration::from_secs(60);
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn firmware_dir() -> PathBuf {
    setup::root().join("firmware")
}

/// Builds and runs the demo firmware in QEMU, then shows its flash and RAM size.
pub fn demo(report: &mut Report) {
    let board = &LM3S6965EVB;
    let Some(toolchain) = prepare(report, board, &["demo"]) else { return };
    if !build(report, board, toolchain, Some("demo")) {
        return;
    }
    let elf = toolchain.out_dir(&firmware_dir(), board.target, "release").join("demo");
    run_program(report, board, &elf, "demo", 0, Some(DEMO_EXPECTS), DEMO_TIMEOUT);
    match elf_sizes(&elf) {
        Ok(sizes) => sizes.print("demo"),
        Err(e) => println!("could not read the size of {}: {e}", elf.display()),
    }
}

/// Builds every firmware program, checks formatting and lints, and runs each program in QEMU
/// as its own check.
pub fn test(report: &mut Report) {
    let board = &LM3S6965EVB;
    let programs = programs();
    let names: Vec<&str> = programs.iter().map(String::as_str).collect();

    let mut fmt = Command::new(setup::cargo());
    fmt.args(["fmt", "--check"]).current_dir(firmware_dir());
    report.run("firmware: fmt", fmt);

    let Some(toolchain) = prepare(report, board, &names) else { return };
    if toolchain.has_clippy() {
        let mut clippy = toolchain.cargo("clippy", board.target, &firmware_dir());
        clippy.args(["--release", "--lib", "--bins", "--", "-D", "warnings"]);
        clippy.env("BAREHEAP_BOARD", board.name);
        report.run("firmware: clippy", clippy);
    } else {
        report.skip("firmware: clippy", "Debian's Rust toolchain has no clippy");
    }
    if toolchain == Toolchain::Rustup {
        // The firmware build covers the library with `critical-section`; this covers it
        // without features. (With Debian's toolchain it would rebuild `core` for minutes.)
        let mut lib = toolchain.cargo("build", board.target, &setup::root());
        lib.args(["-p", "bareheap"]);
        report.run(&format!("bareheap builds for {} (no features)", board.target), lib);
    }

    if !build(report, board, toolchain, None) {
        return;
    }
    let out = toolchain.out_dir(&firmware_dir(), board.target, "release");
    for name in &names {
        let expect = MUST_FAIL.iter().find(|(n, _)| n == name).map_or(0, |&(_, status)| status);
        let output = (*name == "demo").then_some(DEMO_EXPECTS);
        run_program(report, board, &out.join(name), name, expect, output, TEST_TIMEOUT);
    }
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

/// Installs what building and running for `board` needs; on failure reports each of
/// `programs` as SKIPPED and returns `None`.
fn prepare(report: &mut Report, board: &Board, programs: &[&str]) -> Option<Toolchain> {
    let missing = match setup::ensure_target(board.target) {
        Ok(toolchain) => match setup::ensure_program(board.qemu, board.qemu_package) {
            Ok(_) => return Some(toolchain),
            Err(why) => format!("{} unavailable: {why}", board.qemu),
        },
        Err(why) => format!("cannot build for {}: {why}", board.target),
    };
    println!("\n!!! firmware checks cannot run on this machine: {missing}");
    for name in programs {
        report.skip(&format!("firmware: {name}"), &missing);
    }
    None
}

/// `cargo build --release` of the firmware (`only` one program, or all).
fn build(report: &mut Report, board: &Board, toolchain: Toolchain, only: Option<&str>) -> bool {
    let mut cmd = toolchain.cargo("build", board.target, &firmware_dir());
    cmd.arg("--release").env("BAREHEAP_BOARD", board.name);
    match only {
        Some(bin) => cmd.args(["--bin", bin]),
        None => cmd.arg("--bins"),
    };
    let what = only.unwrap_or("all programs");
    report.run(&format!("firmware: build {what} ({}, {toolchain:?})", board.target), cmd)
}

/// Runs `elf` in QEMU with a timeout, streaming its output; passes if QEMU exits with
/// `expect_status` (and the output contains `expect_output`, if given).
fn run_program(
    report: &mut Report,
    board: &Board,
    elf: &Path,
    name: &str,
    expect_status: i32,
    expect_output: Option<&str>,
    timeout: Duration,
) {
    let check = if expect_status == 0 {
        format!("firmware: {name}")
    } else {
        format!("firmware: {name} must exit with status {expect_status}")
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
            return;
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
    let (vectors, text, rodata) = (size(".vector_table"), size(".text"), size(".rodata"));
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
