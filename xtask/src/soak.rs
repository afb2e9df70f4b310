//! `cargo xtask soak --minutes N`: the long campaigns that do not fit in `cargo xtask test`
//! (RELIABILITY.md §5.2, P1-P5), run one after another within a time budget, all in release:
//!
//! | part | share | what |
//! | --- | --- | --- |
//! | shadow model | 35 % | the property tests and the F6 bound stress, a new seed per round (`BAREHEAP_SEED`), 500,000 ops per bound stress |
//! | threads | 20 % | the threaded stress (8 threads, every heap × wrapper, cross-thread frees, cookies), 200,000 ops per thread per round |
//! | interrupts | 20 % | the SIGALRM model: sigmask critical section and `Spin::with_core_id`, every heap, one long round |
//! | fuzzing | 25 % | every cargo-fuzz target from the committed corpus, ASan, the share split evenly |
//!
//! A part repeats whole rounds until its share is used (at least one round). Every command's
//! output goes to the log, `results/soak/<UTC time>-<N>min.log` (or `--log`), which ends with a
//! summary of the figures (operations checked, interrupt-context operations, fuzz executions,
//! the largest loop-iteration counts). A failed round fails the soak; the seed is in the log.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::reliability;
use crate::report::Report;
use crate::setup;

/// What one part found, for the summary.
#[derive(Default)]
struct Tally {
    rounds: u64,
    failed: u64,
    secs: f64,
    lines: Vec<String>,
}

/// The log and the running tallies.
struct Soak {
    log: std::fs::File,
    summary: String,
}

impl Soak {
    fn note(&mut self, text: &str) {
        println!("{text}");
        let _ = writeln!(self.log, "{text}");
    }

    /// Runs `cmd`, copies its output to the log, and returns (success, output).
    fn run(&mut self, name: &str, mut cmd: Command) -> (bool, String) {
        self.note(&format!("\n==> {name}"));
        let start = Instant::now();
        let (ok, text) = match cmd.output() {
            Ok(out) => (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ),
            Err(e) => (false, format!("could not start {cmd:?}: {e}")),
        };
        let _ = self.log.write_all(text.as_bytes());
        let verdict = if ok { "PASS" } else { "FAIL" };
        self.note(&format!("{verdict} {name} ({:.1} s)", start.elapsed().as_secs_f64()));
        if !ok {
            // The end of the output on the terminal too, so a failure is visible there.
            let lines: Vec<&str> = text.lines().collect();
            for l in &lines[lines.len().saturating_sub(40)..] {
                println!("  {l}");
            }
        }
        (ok, text)
    }
}

/// The sum of the first number after every occurrence of `key` in `text`.
fn sum_after(text: &str, key: &str) -> u64 {
    text.match_indices(key)
        .filter_map(|(i, _)| {
            let rest = &text[i + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

/// Every unsigned integer in `text`, in order.
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect()
}

/// The largest first number after an occurrence of `key` in `text`.
fn max_after(text: &str, key: &str) -> u64 {
    text.match_indices(key)
        .filter_map(|(i, _)| {
            let rest = &text[i + key.len()..];
            rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}

fn release_tests(tests: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(setup::cargo());
    cmd.args(["test", "--release", "-p", "bareheap-testkit"]);
    for t in tests {
        cmd.args(["--test", t]);
    }
    cmd.args(["--", "--nocapture"]).current_dir(setup::root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn isr_tests(seconds: u64) -> Command {
    let mut cmd = Command::new(setup::cargo());
    cmd.args(["test", "--release", "--manifest-path"])
        .arg(setup::root().join("crates/bareheap-testkit/isr/Cargo.toml"))
        .args(["--", "--nocapture"])
        .env("BAREHEAP_ISR_SECS", seconds.to_string())
        .env("CARGO_TARGET_DIR", setup::root().join("target").join("isr"))
        .current_dir(setup::root());
    cmd
}

/// The default log path: `results/soak/<UTC time>-<N>min.log`.
fn default_log(minutes: u64) -> PathBuf {
    let stamp = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H%MZ"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("unix{secs}")
        });
    setup::root().join("results").join("soak").join(format!("{stamp}-{minutes}min.log"))
}

/// Repeats `round(seed)` until `budget` is used (at least once).
fn repeat(
    soak: &mut Soak,
    budget: Duration,
    mut round: impl FnMut(&mut Soak, u64) -> (bool, String),
) -> Tally {
    let start = Instant::now();
    let mut tally = Tally::default();
    let mut seed = 1u64;
    while tally.rounds == 0 || start.elapsed() < budget {
        let (ok, text) = round(soak, seed);
        tally.rounds += 1;
        tally.failed += u64::from(!ok);
        tally.lines.push(text);
        seed += 1;
        if !ok {
            break; // the failing seed is in the log; more rounds would only bury it
        }
    }
    tally.secs = start.elapsed().as_secs_f64();
    tally
}

pub fn soak(report: &mut Report, minutes: u64, log: Option<&Path>) {
    let path = log.map_or_else(|| default_log(minutes), Path::to_path_buf);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = match std::fs::File::create(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("xtask soak: cannot create {}: {e}", path.display());
            report.record("soak: log file", false, Instant::now());
            return;
        }
    };
    let mut soak = Soak { log: file, summary: String::new() };
    let total = Duration::from_secs(minutes.max(1) * 60);
    let share = |pct: u64| total * pct as u32 / 100;
    soak.note(&format!(
        "xtask soak: {minutes} min budget, log {}; git {}",
        path.display(),
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(setup::root())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    ));

    // Build first, so the shares are spent running, not compiling.
    let mut build_cmd = Command::new(setup::cargo());
    build_cmd
        .args(["test", "--release", "-p", "bareheap-testkit", "--no-run"])
        .args(["--test", "property", "--test", "bounds", "--test", "threads"])
        .current_dir(setup::root());
    let start = Instant::now();
    let (built, _) = soak.run("build (release)", build_cmd);
    report.record("soak: build", built, start);
    if !built {
        return;
    }

    // 1. Shadow model: property tests and the bound stress, a new seed per round.
    let start = Instant::now();
    let shadow = repeat(&mut soak, share(35), |s, seed| {
        let env =
            [("BAREHEAP_SEED", seed.to_string()), ("BAREHEAP_BOUND_OPS", "500000".to_owned())];
        s.run(
            &format!("shadow model round, BAREHEAP_SEED={seed}"),
            release_tests(&["property", "bounds"], &env),
        )
    });
    let text = shadow.lines.join("\n");
    let ops = sum_after(&text, "): ops=") + sum_after(&text, "| random ops (");
    let frag = text
        .lines()
        .filter(|l| l.contains("F6 bound table: FirstFit | fragmenting ("))
        .map(|l| sum_after(l, "fragmenting ("))
        .sum::<u64>();
    let _ = writeln!(
        soak.summary,
        "shadow model: {} rounds in {:.0} s, {} failed; {} random operations model-checked \
         (+{} fragmenting); FirstFit max loop iterations per call: allocate {}, deallocate {}, \
         grow {}, shrink {} (every call within its documented bound); AtomicBump max CAS passes {}",
        shadow.rounds,
        shadow.secs,
        shadow.failed,
        ops,
        frag,
        max_after(&text, "max loop iterations: allocate "),
        max_after(&text, ", deallocate "),
        max_after(&text, ", grow "),
        max_after(&text, ", shrink "),
        max_after(&text, "max CAS loop passes per allocation: "),
    );
    report.record("soak: shadow model (property + F6 bounds)", shadow.failed == 0, start);

    // 2. Threads.
    let start = Instant::now();
    let threads = repeat(&mut soak, share(20), |s, seed| {
        let env = [("BAREHEAP_THREAD_OPS", "200000".to_owned())];
        s.run(&format!("threads round {seed}"), release_tests(&["threads"], &env))
    });
    let text = threads.lines.join("\n");
    let _ = writeln!(
        soak.summary,
        "threads: {} rounds in {:.0} s, {} failed; {} allocations (8 threads, every heap x \
         wrapper), {} reallocs, {} frees of which {} cross-thread",
        threads.rounds,
        threads.secs,
        threads.failed,
        sum_after(&text, ": 8 threads, allocs="),
        sum_after(&text, "reallocs="),
        sum_after(&text, " frees="),
        sum_after(&text, "(cross-thread "),
    );
    report.record("soak: threads", threads.failed == 0, start);

    // 3. Interrupts: one round, the share split over the six heap x lock runs.
    let start = Instant::now();
    let secs = (share(20).as_secs() / 6).max(4);
    let (ok, text) = soak.run(&format!("ISR model, {secs} s per heap x lock"), isr_tests(secs));
    let sigmask: String = text
        .lines()
        .filter(|l| l.contains("CriticalSection(sigmask)"))
        .collect::<Vec<_>>()
        .join("\n");
    // `... s: <interrupts> interrupts, <ops> handler ops done, <refused> handler calls refused
    // (...), <main> main-loop ops, <corrupt> corrupt payload bytes`
    let spin: Vec<Vec<u64>> = text
        .lines()
        .filter(|l| l.contains("Locked<Spin::with_core_id"))
        .filter_map(|l| l.split_once(" s: ").map(|(_, rest)| numbers(rest)))
        .collect();
    let col = |i: usize| spin.iter().filter_map(|v| v.get(i)).sum::<u64>();
    let _ = writeln!(
        soak.summary,
        "interrupts: {} ({secs} s per heap x lock, 20 us period); sigmask critical section: {} \
         handler ops, {} re-entries, {} corrupt bytes; Spin::with_core_id: {} handler ops, {} \
         refused (null, no deadlock), {} corrupt bytes",
        if ok { "passed" } else { "FAILED" },
        sum_after(&sigmask, "isr_ops: "),
        sum_after(&sigmask, "reentries: "),
        sum_after(&sigmask, "corrupt_payloads: "),
        col(1),
        col(2),
        col(4),
    );
    report.record("soak: ISR model", ok, start);

    // 4. Fuzzing.
    let start = Instant::now();
    let targets = reliability::fuzz_targets();
    match reliability::ensure_cargo_fuzz() {
        Err(why) => {
            soak.note(&format!("SKIPPED fuzzing: {why}"));
            let _ = writeln!(soak.summary, "fuzzing: SKIPPED ({why})");
            report.skip("soak: fuzzing", &why);
        }
        Ok(()) => {
            let per = (share(25).as_secs() / targets.len().max(1) as u64).max(10);
            let mut all_ok = true;
            let mut line = format!("fuzzing ({per} s per target, ASan):");
            for t in &targets {
                let scratch = reliability::fuzz_dir().join("target").join("corpus").join(t);
                let _ = std::fs::create_dir_all(&scratch);
                let mut cmd = Command::new(setup::cargo());
                cmd.args(["fuzz", "run", "--debug-assertions", "--sanitizer=address", t])
                    .arg(&scratch)
                    .arg(reliability::fuzz_dir().join("corpus").join(t))
                    .args(["--", &format!("-max_total_time={per}"), "-print_final_stats=1"])
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env("RUSTFLAGS", "-Cunsafe-allow-abi-mismatch=sanitizer")
                    .current_dir(setup::root());
                let (ok, text) = soak.run(&format!("fuzz {t} ({per} s)"), cmd);
                let execs = reliability::stat(&text, "stat::number_of_executed_units:");
                let ok = ok && execs.is_some_and(|n| n > 0);
                all_ok &= ok;
                let _ = write!(
                    line,
                    " {t} {} execs{};",
                    execs.unwrap_or(0),
                    if ok { "" } else { " FAILED" }
                );
            }
            let _ = writeln!(soak.summary, "{line}");
            report.record("soak: fuzzing", all_ok, start);
        }
    }

    let summary = std::mem::take(&mut soak.summary);
    soak.note(&format!("\n==> soak summary\n{summary}"));
    soak.note(&format!("log: {}", path.display()));
}
