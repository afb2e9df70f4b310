//! The on-target side of the benchmarks, on the Cortex-M3, the Cortex-M0 and RISC-V RV32IMAC
//! ([`CORES`]): code size and static RAM per allocator (`cargo xtask size`), and exact
//! instruction counts per `alloc`/`free`/`realloc` in QEMU (the target part of `cargo xtask
//! bench`), each core in its own results files.
//!
//! The firmware is `bench/cortex-m/` (its own workspace): one binary per allocator in
//! `src/bin/`, all running the same seeded sequence, plus `baseline` (a trivial bump allocator)
//! whose sizes are subtracted. Instructions are counted by the QEMU TCG plugin in
//! `bench/qemu-plugin/insn_count.c` between marker stores the firmware makes around each call.
//! Every binary runs twice; the two runs must produce identical counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use object::{Object, ObjectSection, ObjectSymbol};

use wait_timeout::ChildExt as _;

use crate::report::Report;
use crate::setup::{self, root, Toolchain};

/// A core the target benchmarks run on.
pub struct Core {
    /// Names the results files (`bench/results/<name>.md`, ...) and the checks.
    pub name: &'static str,
    /// The core as users know it.
    pub title: &'static str,
    /// The Rust target.
    pub target: &'static str,
    /// The QEMU program and the Debian package that has it.
    pub qemu: (&'static str, &'static str),
    /// QEMU's machine and CPU options.
    pub machine: &'static [&'static str],
    /// How the report describes the emulated machine and runtime (lines of at most 94
    /// characters, the later ones indented by two spaces).
    pub machine_note: &'static str,
    /// What embedded-alloc's critical section costs on this core, for the report.
    pub critical_section: &'static str,
    /// What an instruction costs in cycles on real parts, for the report (wrapped like
    /// `machine_note`).
    pub cycles_note: &'static str,
}

/// The cores: the Cortex-M3 first (the `--quick` run and the long-standing results), then the
/// ARMv6-M Cortex-M0 (no compare-and-swap, fewer instructions) and RISC-V.
pub const CORES: [Core; 3] = [
    Core {
        name: "cortex-m3",
        title: "Cortex-M3",
        target: "thumbv7m-none-eabi",
        qemu: ("qemu-system-arm", "qemu-system-arm"),
        machine: &["-cpu", "cortex-m3", "-machine", "lm3s6965evb"],
        machine_note: "QEMU `lm3s6965evb` (Cortex-M3), cortex-m-rt",
        critical_section: "PRIMASK save, `cpsid`, restore",
        cycles_note: "a Cortex-M3 takes 1–3+ cycles per instruction (loads, taken branches, \
                      divides),\n  plus flash wait states on real parts",
    },
    Core {
        name: "cortex-m0",
        title: "Cortex-M0",
        target: "thumbv6m-none-eabi",
        qemu: ("qemu-system-arm", "qemu-system-arm"),
        // QEMU's Cortex-M0 model on the lm3s6965evb's memory map: the counts depend on the
        // instruction set, not the board, and the 32 KiB arena needs more RAM than the
        // micro:bit's 16 KiB.
        machine: &["-cpu", "cortex-m0", "-machine", "lm3s6965evb"],
        machine_note: "QEMU's `cortex-m0` CPU (ARMv6-M) on the `lm3s6965evb` memory map (the \
                       32 KiB arena\n  does not fit a micro:bit's 16 KiB RAM), cortex-m-rt",
        critical_section: "PRIMASK save, `cpsid`, restore",
        cycles_note: "a Cortex-M0 takes 1–3 cycles per instruction (loads and taken branches \
                      2–3,\n  no divide instruction), plus flash wait states on real parts",
    },
    Core {
        name: "riscv32imac",
        title: "RISC-V RV32IMAC",
        target: "riscv32imac-unknown-none-elf",
        qemu: ("qemu-system-riscv32", "qemu-system-misc"),
        machine: &["-machine", "virt", "-bios", "none"],
        machine_note: "QEMU `virt` (RV32IMAC hart in machine mode, program in DRAM), riscv-rt",
        critical_section: "`csrrci` on `mstatus.MIE`, restore",
        cycles_note: "simple RV32 microcontroller cores take 1–3+ cycles per instruction \
                      (loads,\n  taken branches, divides), plus flash wait states on real parts",
    },
];

const FIRMWARE_DIR: &str = "bench/cortex-m";
const PLUGIN_SOURCE: &str = "bench/qemu-plugin/insn_count.c";
const RESULTS_DIR: &str = "bench/results";
const BASELINE: &str = "baseline";
/// The baseline of the small-object sequence's binaries (`small_*`): its own harness is
/// smaller, so measuring them over [`BASELINE`] would understate them.
const SMALL_BASELINE: &str = "small_baseline";
/// Cargo profiles of `bench/cortex-m/Cargo.toml` and the opt-level each stands for.
const PROFILES: [(&str, &str); 2] = [("opt-s", "s"), ("opt-3", "3")];
/// The binaries of a `--quick` run.
const QUICK_BINARIES: [&str; 7] = [
    BASELINE,
    SMALL_BASELINE,
    "bareheap_bump",
    "bareheap_first_fit",
    "talc",
    "small_bareheap_first_fit",
    "small_bareheap_slab_first_fit",
];
/// How long one QEMU run may take (a run takes well under a second).
const QEMU_TIMEOUT: Duration = Duration::from_secs(120);

/// Marker kinds of `bench/cortex-m/src/marker.rs` (the plugin's kind numbers).
pub const KIND_ALLOC: u32 = 1;
pub const KIND_FREE: u32 = 2;
pub const KIND_REALLOC: u32 = 3;
const KIND_EMPTY: u32 = 4;
const KIND_CALIBRATION: u32 = 5;
const OPS: [(u32, &str); 3] =
    [(KIND_ALLOC, "alloc"), (KIND_FREE, "free"), (KIND_REALLOC, "realloc")];

/// `cargo xtask size`: builds the firmware for every core at both opt-levels and prints code
/// size and static RAM of every allocator over the bump-only baseline.
pub fn size(report: &mut Report) {
    for core in &CORES {
        size_on(report, core);
    }
}

fn size_on(report: &mut Report, core: &'static Core) {
    let bins = binaries();
    let Some(tc) = prepare_toolchain(report, core) else { return };
    if !build_firmware(report, core, tc, &PROFILES, &bins, Build::Sizes) {
        return;
    }
    let Some(sizes) = measure_sizes(report, core, tc, &PROFILES, &bins) else { return };
    println!("\n{}: {}", core.title, size_table(&sizes, &bins, &[]));
    let csv = results_dir().join(format!("{}-size.csv", core.name));
    write_file(report, &csv, &size_csv(&sizes));
}

/// The target part of `cargo xtask bench`, on every core: sizes plus instruction counts,
/// written to `bench/results/<core>.{md,csv}` and `<core>-size.csv`. `--quick` is a smoke run:
/// it builds and runs [`QUICK_BINARIES`] at opt-level "s" only (the fat-LTO builds are most of
/// the time) and writes no files.
pub fn bench_target(report: &mut Report, quick: bool) {
    for core in &CORES {
        bench_on(report, core, quick);
    }
}

fn bench_on(report: &mut Report, core: &'static Core, quick: bool) {
    let profiles = if quick { &PROFILES[..1] } else { &PROFILES[..] };
    let mut bins = binaries();
    if quick {
        bins.retain(|b| QUICK_BINARIES.contains(&b.as_str()));
    }
    let start = Instant::now();
    let Some(tc) = prepare_toolchain(report, core) else { return };
    let qemu = match setup::ensure_program(core.qemu.0, core.qemu.1) {
        Ok(path) => path,
        Err(why) => {
            println!("\n!!! {} instruction counts cannot run here: {why}", core.name);
            report.skip(&format!("{} instruction counts", core.name), &why);
            return;
        }
    };
    let Some(plugin) = build_plugin(report) else { return };
    // Sizes first, from builds without `validate()`; then the validating builds that run.
    if !build_firmware(report, core, tc, profiles, &bins, Build::Sizes) {
        return;
    }
    let Some(sizes) = measure_sizes(report, core, tc, profiles, &bins) else { return };
    if !build_firmware(report, core, tc, profiles, &bins, Build::Counts) {
        return;
    }

    let tools = Tools { core, toolchain: tc, qemu, plugin };
    let mut runs = Vec::new();
    for &(profile, level) in profiles {
        for bin in &bins {
            if !is_baseline(bin) {
                runs.push(count_instructions(report, &tools, profile, level, bin));
            }
        }
    }

    let cross_check = cross_check(report, &tools, &runs);
    let counts = count_tables(core, &runs, &bins);
    let failed = failed_bins(&runs);
    println!("\n{counts}\n{}", size_table(&sizes, &bins, &failed));
    if quick {
        println!("--quick: opt-level s only; bench/results/{}.* not written", core.name);
        return;
    }
    let md = markdown(&tools, &counts, &sizes, &bins, &runs, &cross_check, start.elapsed());
    let dir = results_dir();
    write_file(report, &dir.join(format!("{}.md", core.name)), &md);
    write_file(report, &dir.join(format!("{}.csv", core.name)), &counts_csv(&runs));
    write_file(report, &dir.join(format!("{}-size.csv", core.name)), &size_csv(&sizes));
}

/// Builds one firmware binary for `core` at opt-level "s" (validating build) and counts its
/// calls as `cargo xtask bench` does (two identical runs): the per-call instructions by kind
/// ([`KIND_ALLOC`], ...), in sequence order, marker overhead subtracted, and whether the run
/// stopped at a refused request (a bump allocator). For `cargo xtask m3-calls`
/// ([`crate::m3_calls`]).
pub fn calls_of(
    report: &mut Report,
    core: &'static Core,
    bin: &str,
) -> Option<(BTreeMap<u32, Vec<u64>>, bool)> {
    let tc = prepare_toolchain(report, core)?;
    let qemu = match setup::ensure_program(core.qemu.0, core.qemu.1) {
        Ok(path) => path,
        Err(why) => {
            report.skip(&format!("{} instruction counts", core.name), &why);
            return None;
        }
    };
    let plugin = build_plugin(report)?;
    let profiles = &PROFILES[..1];
    if !build_firmware(report, core, tc, profiles, &[bin.to_owned()], Build::Counts) {
        return None;
    }
    let tools = Tools { core, toolchain: tc, qemu, plugin };
    let (profile, level) = profiles[0];
    let data = count_instructions(report, &tools, profile, level, bin).result.ok()?;
    Some((data.ops, data.summary.contains("stopped_at_oom=true")))
}

// ---------------------------------------------------------------------------------------------
// Tools

/// What the instruction-count runs need.
struct Tools {
    core: &'static Core,
    toolchain: Toolchain,
    qemu: PathBuf,
    plugin: PathBuf,
}

/// The toolchain that builds for `core` (rustup's target, installed if missing, or Debian's
/// with build-std: [`setup::ensure_target`]); `None`, reported SKIPPED, if neither.
fn prepare_toolchain(report: &mut Report, core: &Core) -> Option<Toolchain> {
    match setup::ensure_target(core.target) {
        Ok(toolchain) => Some(toolchain),
        Err(why) => {
            println!("\n!!! {} benchmarks cannot run here: {why}", core.name);
            let why = format!("cannot build for {}: {why}", core.target);
            report.skip(&format!("{} benchmarks", core.name), &why);
            None
        }
    }
}

/// The first line `tool flag` prints, if the tool runs.
fn version_line(tool: &str, flag: &str) -> Option<String> {
    let out = Command::new(tool).arg(flag).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| text.lines().next().unwrap_or("").trim().to_owned())
}

/// Compiles the QEMU plugin with the host C compiler.
fn build_plugin(report: &mut Report) -> Option<PathBuf> {
    let out_dir = root().join("target/insn_count");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("cannot create {}: {e}", out_dir.display());
        report.record("build insn_count QEMU plugin", false, Instant::now());
        return None;
    }
    let lib = out_dir.join("libinsn_count.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let mut cmd = Command::new(&cc);
    cmd.args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden", "-o"])
        .arg(&lib)
        .arg(root().join(PLUGIN_SOURCE));
    report.run("build insn_count QEMU plugin", cmd).then_some(lib)
}

/// What a firmware build is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    /// The instruction-count runs: default features, so the bareheap adapters call the heap's
    /// `validate()` after the workload.
    Counts,
    /// The size table: `--no-default-features` leaves `validate()` out. Only bareheap's
    /// adapters have a checker to call; linking it would charge bareheap's code size alone.
    Sizes,
}

/// Builds every firmware binary for each profile.
fn build_firmware(
    report: &mut Report,
    core: &Core,
    tc: Toolchain,
    profiles: &[(&str, &'static str)],
    bins: &[String],
    build: Build,
) -> bool {
    profiles.iter().all(|(profile, level)| {
        // Runs in `bench/cortex-m`, so cargo reads its `.cargo/config.toml` (linker script).
        let mut cmd = tc.cargo("build", core.target, &firmware_dir());
        cmd.args(["--profile", profile]);
        if build == Build::Sizes {
            cmd.arg("--no-default-features");
        }
        for bin in bins {
            cmd.args(["--bin", bin]);
        }
        let what = if build == Build::Sizes { ", for sizes: no validate" } else { "" };
        let name = format!("build {} bench firmware (opt-level {level}, {tc:?}{what})", core.name);
        report.run(&name, cmd)
    })
}

fn firmware_dir() -> PathBuf {
    root().join(FIRMWARE_DIR)
}

/// Whether `bin` is a size baseline (built and measured, never run).
fn is_baseline(bin: &str) -> bool {
    bin == BASELINE || bin == SMALL_BASELINE
}

/// The baseline `bin`'s sizes are measured over: the one built from the same harness.
fn baseline_of(bin: &str) -> &'static str {
    if bin.starts_with("small_") {
        SMALL_BASELINE
    } else {
        BASELINE
    }
}

fn results_dir() -> PathBuf {
    root().join(RESULTS_DIR)
}

fn elf_path(core: &Core, tc: Toolchain, profile: &str, bin: &str) -> PathBuf {
    tc.out_dir(&firmware_dir(), core.target, profile).join(bin)
}

/// The firmware binaries (`src/bin/*.rs`): bareheap's first, then the peers, then the same for
/// the small-object sequence, then the baseline.
fn binaries() -> Vec<String> {
    let mut bins: Vec<String> = std::fs::read_dir(firmware_dir().join("src/bin"))
        .map(|dir| {
            dir.filter_map(|e| {
                let path = e.ok()?.path();
                (path.extension()? == "rs")
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))?
            })
            .collect()
        })
        .unwrap_or_default();
    // The small-object sequence's binaries (`small_*`) after the main sequence's.
    bins.sort_by_key(|b| {
        let small = b.starts_with("small_");
        let ours = b.trim_start_matches("small_").starts_with("bareheap");
        (is_baseline(b), small, !ours, b.clone())
    });
    bins
}

fn write_file(report: &mut Report, path: &Path, text: &str) {
    let start = Instant::now();
    let ok = match std::fs::write(path, text) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("cannot write {}: {e}", path.display());
            false
        }
    };
    report.record(
        &format!("write {}", path.strip_prefix(root()).unwrap_or(path).display()),
        ok,
        start,
    );
}

// ---------------------------------------------------------------------------------------------
// Code size and static RAM

/// Section sizes of one binary.
#[derive(Clone, Copy, Default)]
struct Sections {
    text: u64,
    rodata: u64,
    data: u64,
    bss: u64,
}

impl Sections {
    fn code(self) -> u64 {
        self.text + self.rodata
    }
    fn ram(self) -> u64 {
        self.data + self.bss
    }
}

/// Sizes per (opt-level, binary).
type Sizes = BTreeMap<(&'static str, String), Sections>;

fn read_sections(path: &Path) -> Result<Sections, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let elf = object::File::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut s = Sections::default();
    for section in elf.sections() {
        let size = section.size();
        match section.name().unwrap_or("") {
            ".text" => s.text += size,
            ".rodata" => s.rodata += size,
            ".data" => s.data += size,
            ".bss" => s.bss += size,
            _ => {}
        }
    }
    Ok(s)
}

fn measure_sizes(
    report: &mut Report,
    core: &Core,
    tc: Toolchain,
    profiles: &[(&str, &'static str)],
    bins: &[String],
) -> Option<Sizes> {
    let start = Instant::now();
    let mut sizes = Sizes::new();
    let mut ok = true;
    for &(profile, level) in profiles {
        for bin in bins {
            match read_sections(&elf_path(core, tc, profile, bin)) {
                Ok(s) => {
                    sizes.insert((level, bin.clone()), s);
                }
                Err(e) => {
                    eprintln!("{e}");
                    ok = false;
                }
            }
        }
        ok &= [BASELINE, SMALL_BASELINE]
            .iter()
            .all(|b| sizes.contains_key(&(level, (*b).to_owned())));
    }
    report.record(&format!("{} code size and static RAM", core.name), ok, start);
    ok.then_some(sizes)
}

fn signed_delta(a: u64, b: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
}

/// The size table; binaries named in `failed` (their run failed) are marked.
fn size_table(sizes: &Sizes, bins: &[String], failed: &[&str]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Code size (.text+.rodata) and static RAM (.data+.bss) over the bump-only baseline, bytes\n\n\
         | allocator | code, opt s | code, opt 3 | static RAM, opt s | static RAM, opt 3 |\n\
         | --- | ---: | ---: | ---: | ---: |"
    );
    let cell = |bin: &str, level: &'static str, f: fn(Sections) -> u64| {
        let base = sizes.get(&(level, baseline_of(bin).to_owned()));
        match (sizes.get(&(level, bin.to_owned())), base) {
            (Some(&s), Some(&b)) => signed_delta(f(s), f(b)).to_string(),
            _ => "–".to_owned(),
        }
    };
    for bin in bins {
        if is_baseline(bin) {
            continue;
        }
        let _ = writeln!(
            t,
            "| {bin}{} | {} | {} | {} | {} |",
            if failed.contains(&bin.as_str()) { " (run FAILED)" } else { "" },
            cell(bin, "s", Sections::code),
            cell(bin, "3", Sections::code),
            cell(bin, "s", Sections::ram),
            cell(bin, "3", Sections::ram),
        );
    }
    let _ = writeln!(t);
    for (base, what) in [(BASELINE, "the main sequence's"), (SMALL_BASELINE, "the small-object")] {
        let abs = |level: &'static str, f: fn(Sections) -> u64| {
            sizes.get(&(level, base.to_owned())).map_or("–".to_owned(), |&b| f(b).to_string())
        };
        let _ = writeln!(
            t,
            "Baseline `{base}` ({what} harness + 20-line bump), absolute: code {} B (s) / {} B \
             (3), static RAM {} B (s) / {} B (3).",
            abs("s", Sections::code),
            abs("3", Sections::code),
            abs("s", Sections::ram),
            abs("3", Sections::ram),
        );
    }
    t
}

fn size_csv(sizes: &Sizes) -> String {
    let mut csv = String::from(
        "opt_level,allocator,text,rodata,data,bss,code_over_baseline,static_ram_over_baseline\n",
    );
    for ((level, bin), s) in sizes {
        let base = sizes.get(&(*level, baseline_of(bin).to_owned())).copied().unwrap_or_default();
        let _ = writeln!(
            csv,
            "{level},{bin},{},{},{},{},{},{}",
            s.text,
            s.rodata,
            s.data,
            s.bss,
            signed_delta(s.code(), base.code()),
            signed_delta(s.ram(), base.ram())
        );
    }
    csv
}

// ---------------------------------------------------------------------------------------------
// Instruction counts

/// The outcome of running one binary at one opt-level (twice).
struct Run {
    level: &'static str,
    bin: String,
    /// Per-op instruction counts with the marker overhead subtracted, or why there are none.
    result: Result<RunData, String>,
}

struct RunData {
    /// Instructions of an empty measurement (subtracted from every count).
    overhead: u64,
    /// Counts per op kind, in sequence order.
    ops: BTreeMap<u32, Vec<u64>>,
    /// The firmware's summary line (`ok NAME alloc=.. ...`).
    summary: String,
    /// Instructions the whole run executed.
    total: u64,
}

fn count_instructions(
    report: &mut Report,
    tools: &Tools,
    profile: &str,
    level: &'static str,
    bin: &str,
) -> Run {
    let start = Instant::now();
    let name = format!("{} instruction counts: {bin} (opt-level {level})", tools.core.name);
    println!("\n==> {name}");
    let result = run_twice(tools, profile, bin);
    match &result {
        Ok(data) => println!("{} (two runs identical)", data.summary),
        Err(e) => println!("{e}"),
    }
    report.record(&name, result.is_ok(), start);
    Run { level, bin: bin.to_owned(), result }
}

fn run_twice(tools: &Tools, profile: &str, bin: &str) -> Result<RunData, String> {
    let elf = elf_path(tools.core, tools.toolchain, profile, bin);
    let marker = marker_address(&elf)?;
    let out_dir = counts_dir(tools.core, profile);
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut outputs = Vec::new();
    let mut summary = String::new();
    for i in 1..=2 {
        let out = out_dir.join(format!("{bin}.run{i}.txt"));
        summary = run_qemu(tools, &elf, marker, &out)?;
        outputs.push(std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?);
    }
    if outputs[0] != outputs[1] {
        return Err("FAIL: the two runs counted different instructions (not repeatable)".to_owned());
    }
    parse_counts(&outputs[0], &summary)
}

/// The address of the marker words (`__bench_marker`, from memory.x).
fn marker_address(elf: &Path) -> Result<u64, String> {
    let data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
    file.symbols()
        .find(|s| s.name() == Ok("__bench_marker"))
        .map(|s| s.address())
        .ok_or_else(|| format!("{}: no __bench_marker symbol", elf.display()))
}

/// Where the plugin's outputs for `core` at `profile` go.
fn counts_dir(core: &Core, profile: &str) -> PathBuf {
    root().join("target/insn_count").join(core.name).join(profile)
}

/// Runs the firmware once under the plugin; returns its `ok ...` summary line.
fn run_qemu(tools: &Tools, elf: &Path, marker: u64, out: &Path) -> Result<String, String> {
    let (qemu, plugin) = (&tools.qemu, &tools.plugin);
    let mut child = Command::new(qemu)
        .args(tools.core.machine)
        .args(["-display", "none"])
        .args(["-monitor", "none", "-serial", "null"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf)
        .arg("-plugin")
        .arg(format!("{},marker={marker:#x},out={}", plugin.display(), out.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu.display()))?;
    // The firmware prints one line, so the pipes cannot fill up while we wait.
    let status = match child.wait_timeout(QEMU_TIMEOUT) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("FAIL: QEMU still running after {QEMU_TIMEOUT:?}; killed"));
        }
        Err(e) => return Err(format!("waiting for QEMU: {e}")),
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    let summary = stdout.lines().find(|l| l.starts_with("ok ")).map(str::to_owned);
    match summary {
        Some(line) if status.success() => Ok(line),
        _ => Err(format!("FAIL: firmware {status}\n{}\n{}", stdout.trim_end(), stderr.trim_end())),
    }
}

/// The `key=value` fields of the firmware's summary line.
fn summary_field(summary: &str, key: &str) -> Option<u64> {
    summary.split_whitespace().find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Parses the plugin's output and checks it against the calibration and the firmware summary.
fn parse_counts(text: &str, summary: &str) -> Result<RunData, String> {
    let mut raw: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut total = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next()) {
            (Some("total"), Some(n)) => total = n.parse().ok(),
            (Some(kind), Some(n)) => {
                let kind: u32 = kind.parse().map_err(|_| format!("plugin: {line}"))?;
                let n: u64 = n.parse().map_err(|_| format!("plugin: {line}"))?;
                raw.entry(kind).or_default().push(n);
            }
            _ => return Err(format!("plugin: {line}")),
        }
    }
    let total = total.ok_or("plugin output has no total (QEMU did not exit cleanly)")?;

    // The counting itself: every empty measurement costs the same, and the calibration loop
    // costs exactly its known instruction count more.
    let empty = raw.remove(&KIND_EMPTY).unwrap_or_default();
    let calibration = raw.remove(&KIND_CALIBRATION).unwrap_or_default();
    let expected = summary_field(summary, "calibration").ok_or("summary lacks calibration=")?;
    let overhead = *empty.first().ok_or("no empty measurement")?;
    if empty.iter().any(|&n| n != overhead) {
        return Err(format!("FAIL: empty measurements differ: {empty:?}"));
    }
    if calibration.is_empty() || calibration.iter().any(|&n| n != overhead + expected) {
        return Err(format!(
            "FAIL: calibration loop counted {calibration:?}, expected {expected} + {overhead} each"
        ));
    }

    let mut ops = BTreeMap::new();
    for (kind, name) in OPS {
        let counts = raw.remove(&kind).unwrap_or_default();
        let reported =
            summary_field(summary, name).ok_or_else(|| format!("summary lacks {name}="))?;
        // A refused alloc/realloc (a bump allocator at the end of its arena) is measured but
        // not counted by the firmware.
        let measured = u64::try_from(counts.len()).unwrap_or(u64::MAX);
        let stopped = summary.contains("stopped_at_oom=true");
        if measured != reported && !(stopped && measured == reported + 1) {
            return Err(format!("FAIL: {measured} {name} measurements, firmware made {reported}"));
        }
        let mut counts: Vec<u64> = counts.into_iter().map(|n| n.saturating_sub(overhead)).collect();
        if stopped && measured == reported + 1 {
            counts.pop();
        }
        ops.insert(kind, counts);
    }
    if let Some(kind) = raw.keys().next() {
        return Err(format!("FAIL: unexpected measurement kind {kind}"));
    }
    Ok(RunData { overhead, ops, summary: summary.to_owned(), total })
}

/// Binaries with a failed run at any opt-level.
fn failed_bins(runs: &[Run]) -> Vec<&str> {
    runs.iter().filter(|r| r.result.is_err()).map(|r| r.bin.as_str()).collect()
}

/// Mean, p50, p99 and max (nearest rank).
struct Stats {
    n: usize,
    mean: f64,
    p50: u64,
    p99: u64,
    max: u64,
}

fn stats(counts: &[u64]) -> Option<Stats> {
    let mut v = counts.to_vec();
    v.sort_unstable();
    let n = v.len();
    let rank = |p: f64| {
        // Nearest rank: the smallest value with at least p of the samples at or below it.
        let r = (p * n as f64).ceil() as usize;
        v[r.clamp(1, n) - 1]
    };
    (n > 0).then(|| Stats {
        n,
        mean: v.iter().sum::<u64>() as f64 / n as f64,
        p50: rank(0.50),
        p99: rank(0.99),
        max: v[n - 1],
    })
}

fn count_tables(core: &Core, runs: &[Run], bins: &[String]) -> String {
    let mut t = String::new();
    for (kind, name) in OPS {
        let _ = writeln!(
            t,
            "Instructions per {name} ({}, QEMU)\n\n\
             | allocator | n | mean, opt s | p50 | p99 | max | mean, opt 3 | p50 | p99 | max |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            core.title
        );
        for bin in bins {
            if is_baseline(bin) {
                continue;
            }
            let mut n = String::from("–");
            let mut cells = String::new();
            for (_, level) in PROFILES {
                let run = runs.iter().find(|r| r.level == level && r.bin == *bin);
                match run.map(|r| &r.result) {
                    Some(Ok(data)) => match data.ops.get(&kind).and_then(|c| stats(c)) {
                        Some(s) => {
                            n = s.n.to_string();
                            let _ = write!(
                                cells,
                                " {:.1} | {} | {} | {} |",
                                s.mean, s.p50, s.p99, s.max
                            );
                        }
                        None => cells.push_str(" – | – | – | – |"),
                    },
                    Some(Err(_)) => cells.push_str(" FAILED | | | |"),
                    None => cells.push_str(" not run | | | |"),
                }
            }
            let row = format!("| {bin} | {n} |{cells}");
            let _ = writeln!(t, "{row}");
        }
        t.push('\n');
    }
    t
}

fn counts_csv(runs: &[Run]) -> String {
    let mut csv = String::from("opt_level,allocator,op,n,mean,p50,p99,max,marker_overhead\n");
    for run in runs {
        let Ok(data) = &run.result else {
            let _ = writeln!(csv, "{},{},failed,,,,,,", run.level, run.bin);
            continue;
        };
        for (kind, name) in OPS {
            if let Some(s) = data.ops.get(&kind).and_then(|c| stats(c)) {
                let _ = writeln!(
                    csv,
                    "{},{},{name},{},{:.2},{},{},{},{}",
                    run.level, run.bin, s.n, s.mean, s.p50, s.p99, s.max, data.overhead
                );
            }
        }
    }
    csv
}

/// The largest run whose execution log is checked against the plugin (the log takes about
/// 110 bytes per instruction).
const CROSS_CHECK_MAX_INSNS: u64 = 2_000_000;

/// Re-runs the shortest successful opt-level-s binary without the plugin under
/// `-singlestep -d exec,nochain` (QEMU logs every executed instruction) and checks that the
/// log has exactly the plugin's total and, between the plugin's marker-store PCs, exactly its
/// per-measurement counts. Returns a sentence for the report.
fn cross_check(report: &mut Report, tools: &Tools, runs: &[Run]) -> String {
    let name = format!("{} counts cross-checked against QEMU's execution log", tools.core.name);
    let name = name.as_str();
    let candidate = runs
        .iter()
        .filter(|r| r.level == PROFILES[0].1)
        .filter_map(|r| r.result.as_ref().ok().map(|d| (r, d.total)))
        .filter(|&(_, total)| total <= CROSS_CHECK_MAX_INSNS)
        .min_by_key(|&(_, total)| total);
    let Some((run, _)) = candidate else {
        let why =
            format!("no successful opt-s run of at most {CROSS_CHECK_MAX_INSNS} instructions");
        report.skip(name, &why);
        return format!("SKIPPED ({why}).");
    };
    println!("\n==> {name} ({})", run.bin);
    let start = Instant::now();
    let result = compare_with_exec_log(tools, PROFILES[0].0, &run.bin);
    match &result {
        Ok(msg) => println!("{msg}"),
        Err(e) => println!("FAIL: {e}"),
    }
    report.record(name, result.is_ok(), start);
    match result {
        Ok(msg) => format!("{msg} (`{}`, opt s).", run.bin),
        Err(e) => format!("FAILED for `{}`: {e}.", run.bin),
    }
}

fn compare_with_exec_log(tools: &Tools, profile: &str, bin: &str) -> Result<String, String> {
    let dir = counts_dir(tools.core, profile);
    let plugin_out = std::fs::read_to_string(dir.join(format!("{bin}.run1.txt")))
        .map_err(|e| format!("plugin output: {e}"))?;
    // Plugin lines: "<kind> <count> <open-pc> <close-pc>", then "total <n>".
    let mut expected = Vec::new();
    let mut marker_pcs = std::collections::BTreeSet::new();
    let mut total = None;
    for line in plugin_out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
        match f.as_slice() {
            ["total", n] => total = n.parse::<u64>().ok(),
            [_, n, open, close] => {
                expected.push(n.parse::<u64>().map_err(|_| format!("plugin line {line}"))?);
                marker_pcs.extend([hex(open), hex(close)].into_iter().flatten());
            }
            _ => return Err(format!("plugin line {line}")),
        }
    }
    let total = total.ok_or("plugin output has no total")?;

    let log = dir.join(format!("{bin}.exec.log"));
    let status = Command::new(&tools.qemu)
        .args(tools.core.machine)
        .args(["-display", "none"])
        .args(["-monitor", "none", "-serial", "null"])
        .args(["-semihosting-config", "enable=on,target=native", "-singlestep"])
        .args(["-d", "exec,nochain", "-D"])
        .arg(&log)
        .arg("-kernel")
        .arg(elf_path(tools.core, tools.toolchain, profile, bin))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start {}: {e}", tools.qemu.display()))?;
    if !status.success() {
        return Err(format!("firmware without the plugin: {status}"));
    }
    let file = std::fs::File::open(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    // "Trace 0: 0x7f.. [00800400/00000400/00000110/ff000201] Reset": the second field in the
    // brackets is the guest PC.
    let mut executed = 0u64;
    let mut opened = None;
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("{}: {e}", log.display()))?;
        if !line.starts_with("Trace ") {
            continue;
        }
        executed += 1;
        let pc = line
            .split('[')
            .nth(1)
            .and_then(|f| f.split('/').nth(1))
            .and_then(|pc| u64::from_str_radix(pc.trim_end_matches(']'), 16).ok())
            .ok_or_else(|| format!("unexpected exec log line: {line}"))?;
        if marker_pcs.contains(&pc) {
            match opened.take() {
                None => opened = Some(executed),
                Some(at) => seen.push(executed - at),
            }
        }
    }
    let _ = std::fs::remove_file(&log);
    if executed != total {
        return Err(format!("log has {executed} instructions, the plugin counted {total}"));
    }
    if seen != expected {
        let first = seen.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!(
            "{} measurements in the log, {} from the plugin; first difference at #{first}",
            seen.len(),
            expected.len()
        ));
    }
    Ok(format!(
        "all {} measurements and the total of {total} instructions match the log exactly",
        expected.len()
    ))
}

// ---------------------------------------------------------------------------------------------
// The report

/// `name = "x"` / `version = "y"` pairs of `bench/cortex-m/Cargo.lock`, for the peers.
fn locked_versions() -> Vec<(String, String)> {
    let lock = std::fs::read_to_string(firmware_dir().join("Cargo.lock")).unwrap_or_default();
    let wanted =
        ["talc", "rlsf", "linked_list_allocator", "embedded-alloc", "buddy_system_allocator"];
    let mut out = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if wanted.contains(&n.as_str()) {
                out.push((n, v.trim_matches('"').to_owned()));
            }
        }
    }
    out
}

fn markdown(
    tools: &Tools,
    counts: &str,
    sizes: &Sizes,
    bins: &[String],
    runs: &[Run],
    cross_check: &str,
    elapsed: Duration,
) -> String {
    let (core, tc) = (tools.core, tools.toolchain);
    let qemu = version_line(core.qemu.0, "--version").unwrap_or_else(|| "unknown".to_owned());
    let rustc = Command::new(if tc == Toolchain::Rustup { "rustc" } else { "/usr/bin/rustc" })
        .arg("-V")
        .current_dir(firmware_dir())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let peers: Vec<String> =
        locked_versions().into_iter().map(|(n, v)| format!("{n} {v}")).collect();
    let failed: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            r.result.as_ref().err().map(|e| {
                // The firmware's own `FAIL ...` line says why, where there is one.
                let why = e.lines().find(|l| l.starts_with("FAIL ") && !l.starts_with("FAIL: "));
                format!(
                    "- {} (opt {}): {}",
                    r.bin,
                    r.level,
                    why.unwrap_or(e.lines().next().unwrap_or(""))
                )
            })
        })
        .collect();
    let overheads: std::collections::BTreeSet<u64> =
        runs.iter().filter_map(|r| r.result.as_ref().ok().map(|d| d.overhead)).collect();
    let overheads: Vec<String> = overheads.iter().map(u64::to_string).collect();

    let mut md = String::new();
    let _ = write!(
        md,
        r#"# {title}: instructions per operation, code size, static RAM

Generated by `cargo xtask bench` (the target part; `cargo xtask size` prints the size table
alone). Do not edit by hand. Machine-readable: `{name}.csv` (instruction counts) and
`{name}-size.csv` (section sizes). This run took {elapsed:.0?}.

## Method

- **Firmware** (`bench/cortex-m/`): one binary per allocator, semihosting exit;
  {machine_note}.
  Each runs the same seeded sequence (`src/workload.rs`):
  64 slots, 4000 steps; an empty slot is allocated, a full one freed (3/5) or resized (2/5:
  doubled, halved or redrawn). Sizes 1–2048 B, mostly ≤ 32 B; resizes up to 4096 B;
  alignments 1–64, mostly 1/4/8; a 32 KiB arena. Every payload is written on allocation and
  checked before free and after realloc; a wrong block fails the run instead of being counted.
- **Calls**: each allocator's own API, no lock, where it has one; embedded-alloc exposes only
  `GlobalAlloc`, so its rows include a critical section ({critical_section}) per
  call, and its realloc is `GlobalAlloc`'s default (allocate, copy, free). linked_list_allocator
  and buddy_system_allocator have no realloc: allocate + copy + free. talc: in place, else move
  (what its `GlobalAlloc` does, without the lock). rlsf: `reallocate`. bareheap: `Heap::grow`
  / `Heap::shrink`. bareheap Bump does not reuse memory: it runs the sequence until its arena
  is full and only those operations are counted.
- **Counting**: `bench/qemu-plugin/insn_count.c`, a QEMU TCG plugin, adds 1 to a counter
  before every guest instruction (inline, exact) and watches stores to 16 marker words past the
  end of RAM: the firmware stores to word *k* just before a call and to word 0 just after it.
  A count is every instruction from the opening store (exclusive) to the closing store
  (inclusive), minus the count of an empty measurement (the marker overhead, per binary).
  It therefore includes the call, argument and result moves (a few instructions of harness
  glue). Each binary runs twice; the two outputs must be byte-identical or the run fails.
  Each run also checks itself: 8 empty measurements must agree, and 8 measurements of a loop
  of exactly 201 instructions must count 201 more. And each `cargo xtask bench` checks the
  plugin against QEMU's own execution log (`-singlestep -d exec,nochain`, one line per
  executed instruction) on the shortest run: {cross_check}
- **Sizes**: `.text`+`.rodata` (code) and `.data`+`.bss` (static RAM: the allocator's control
  structures; the arena lives in `.uninit` and is not counted) of each binary minus those of
  `baseline`, the same harness with a 20-line bump allocator (`small_*` binaries: minus
  `small_baseline`, the small-object harness with it). Read from the ELF with the
  `object` crate. Profiles `opt-s` / `opt-3`: fat LTO, one codegen unit, panic = abort.
  Sizes come from builds without the post-run `validate()` call (`--no-default-features`):
  only bareheap's adapters have a checker to call, so linking it would charge bareheap alone.
  The instruction-count runs use the default, validating builds.

## Caveats

- **Instructions, not cycles.** QEMU is not cycle-accurate:
  {cycles_note}.
- One workload, one seed: small blocks on a small heap. Allocators whose cost grows with the
  number of free blocks (first fit, linked lists) look better here than on a big, fragmented
  heap; see the host benchmarks for scaling.
- Static RAM is the control structure only. talc keeps its bin table inside the arena, so
  its static RAM is small but its arena has less room; the host benchmarks measure arena
  efficiency.
- The marker overhead subtracted from every count (an empty measurement: the closing store
  and the result move) was {overheads} instructions. A few instructions of harness glue stay
  in every count (argument and result moves, the call, rematerialising the marker address
  after an inlined allocator), about the same for every allocator.

## Versions

- {qemu}
- {rustc} ({tc:?} toolchain), target `{target}`
- Peers (bench/cortex-m/Cargo.lock): {peers}

## Reproduce

```sh
cargo xtask bench   # builds the plugin and firmware, runs each binary twice, writes this file
cargo xtask size    # the size table only
```

## Instruction counts

{counts}
## Code size and static RAM

{size}
"#,
        title = core.title,
        name = core.name,
        machine_note = core.machine_note,
        critical_section = core.critical_section,
        cycles_note = core.cycles_note,
        target = core.target,
        overheads = overheads.join(" or "),
        cross_check = cross_check,
        peers = peers.join(", "),
        size = size_table(sizes, bins, &failed_bins(runs)),
    );
    if !failed.is_empty() {
        let _ = write!(md, "## Failed runs\n\n{}\n", failed.join("\n"));
    }
    md
}
