//! `bench`: runs the host benchmarks and writes tables, CSV/JSON, PNG plots and `BENCHMARKS.md`.
//!
//! ```text
//! bench run [--quick] [--out DIR] [--markdown FILE] [--only NAME]... [--workload PREFIX]...
//! bench report --out DIR [--markdown FILE]     re-render tables, plots and markdown from DIR/results.json
//! bench worker --alloc NAME --job JSON         (internal) one measurement in a child process
//! ```
//! `cargo xtask bench` is the usual way in.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use bench::heaps::registry;
use bench::instructions::{self, InstrRecord, ThroughputInstr};
use bench::jobs::{self, Config, JobOutcome, Record};
use bench::report::{job_name, AllocInfo, Meta, Results, TraceInfo};
use bench::timer::Clock;
use bench::trace::{Event, Trace};
use clap::{Parser, Subcommand};

/// Workload 5 drives `Vec`, `Box` and `BTreeMap` through the heap under test; everything else
/// in this binary gets the system allocator (see `bench::small`).
#[global_allocator]
static GLOBAL: bench::small::Router = bench::small::Router;

#[derive(Parser)]
#[command(about = "Host benchmarks of bareheap against its peers")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure every allocator on every workload.
    Run {
        /// Smoke-test sizes: every workload and allocator, with all checks, in well under 2 minutes.
        #[arg(long)]
        quick: bool,
        /// Directory for results.json, results.md, CSV and PNG files.
        #[arg(long)]
        out: PathBuf,
        /// Also render this BENCHMARKS.md from bench/BENCHMARKS.md.in.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Only these allocators (by name); default all.
        #[arg(long)]
        only: Vec<String>,
        /// Only the jobs whose name starts with one of these (e.g. "small objects"); default all.
        #[arg(long)]
        workload: Vec<String>,
    },
    /// Re-render tables, plots and markdown from an existing results.json.
    Report {
        /// Directory holding results.json.
        #[arg(long)]
        out: PathBuf,
        /// Also render this BENCHMARKS.md.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// One measurement (used by `run`, in a child process).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        alloc: String,
        #[arg(long)]
        job: String,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Run { quick, out, markdown, only, workload } => {
            run(quick, &out, markdown.as_deref(), &only, &workload)
        }
        Cmd::Report { out, markdown } => report(&out, markdown.as_deref()),
        Cmd::Worker { alloc, job } => jobs::worker(&alloc, &job),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo_root() -> PathBuf {
    bench_dir().parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The committed trace.
fn trace_path() -> PathBuf {
    bench_dir().join("traces/serde_json.bhtrace")
}

fn run(
    quick: bool,
    out: &Path,
    markdown: Option<&Path>,
    only: &[String],
    workload: &[String],
) -> Result<(), String> {
    let start = Instant::now();
    let load_start = loadavg();
    let config = Config::new(quick);
    let clock = Clock::calibrate(Duration::from_millis(if quick { 20 } else { 200 }));

    let trace_bytes =
        std::fs::read(trace_path()).map_err(|e| format!("{}: {e}", trace_path().display()))?;
    let trace = Trace::decode(&trace_bytes)?;
    let arena = jobs::trace_arena(&trace);
    let mut counts = [0u64; 3];
    for ev in &trace.events {
        counts[match ev {
            Event::Alloc { .. } => 0,
            Event::Free { .. } => 1,
            Event::Realloc { .. } => 2,
        }] += 1;
    }
    let trace_info = TraceInfo {
        path: "bench/traces/serde_json.bhtrace".into(),
        events: trace.events.len() as u64,
        counts,
        peak_live: trace.peak_live,
        file_bytes: trace_bytes.len() as u64,
        arena,
    };
    drop(trace);

    let versions = lock_versions();
    let allocs: Vec<_> = registry()
        .into_iter()
        .filter(|a| only.is_empty() || only.iter().any(|o| o == a.name))
        .collect();
    if allocs.is_empty() {
        return Err(format!("no allocator matches {only:?}"));
    }
    let infos = allocs
        .iter()
        .map(|a| AllocInfo {
            name: a.name.into(),
            krate: a.krate.into(),
            version: if a.krate == "std" {
                rustc_version()
            } else {
                versions.iter().find(|(n, _)| n == a.krate).map_or("?".into(), |v| v.1.clone())
            },
            note: a.note.into(),
            uses_arena: a.uses_arena,
        })
        .collect();

    let mut job_list = config.jobs(trace_path(), arena);
    job_list.retain(|j| workload.is_empty() || workload.iter().any(|w| job_name(j).starts_with(w)));
    let total = job_list.len() * allocs.len();
    let timeout = Duration::from_secs(config.worker_timeout_secs);
    let mut records: Vec<Record> = Vec::with_capacity(total);
    println!(
        "bench: {} mode, {} allocators × {} jobs, results to {}",
        config.mode,
        allocs.len(),
        job_list.len(),
        out.display()
    );
    // Workload 1: each allocator's seconds per worker at the last live-set size of each variant
    // (see `runs_alone`).
    let mut last_worker: std::collections::HashMap<(String, bool), (usize, f64)> =
        std::collections::HashMap::new();
    for job in &job_list {
        let rounds = match job {
            jobs::Job::SmallObjects { .. } => config.small_rounds,
            jobs::Job::Throughput { .. } => config.throughput_rounds,
            jobs::Job::Latency { .. } => config.latency_rounds,
            _ => 1,
        };
        if rounds > 1 {
            // Interleaved rounds (see `jobs::spawn_rounds`); reported when all are done.
            let alone = |a: &bench::heaps::NamedAllocator| runs_alone(&last_worker, a.name, job);
            for rec in jobs::spawn_rounds(&allocs, job, rounds, timeout, &alone) {
                println!(
                    "[{:>3}/{total}] {:<26} {:<34} {} ({:.1} s, {} worker{})",
                    records.len() + 1,
                    rec.alloc,
                    job_name(job),
                    brief(&rec),
                    rec.wall_secs,
                    rec.workers,
                    if rec.workers == 1 { "" } else { "s" }
                );
                if let jobs::Job::Throughput { n, realloc, .. } = job {
                    let per_worker = rec.wall_secs / rec.workers.max(1) as f64;
                    last_worker.insert((rec.alloc.clone(), *realloc), (*n, per_worker));
                }
                records.push(rec);
            }
            continue;
        }
        for a in &allocs {
            let rec = jobs::spawn(a, job, timeout);
            println!(
                "[{:>3}/{total}] {:<26} {:<34} {} ({:.1} s)",
                records.len() + 1,
                a.name,
                job_name(job),
                brief(&rec),
                rec.wall_secs
            );
            records.push(rec);
        }
    }

    let (instructions, mut instructions_skipped) = instruction_counts(&allocs, &job_list, timeout);
    let throughput_instructions = if instructions_skipped.is_some() {
        Vec::new()
    } else {
        throughput_instruction_counts(&allocs, &config, &records, timeout).unwrap_or_else(|why| {
            println!("SKIPPED instruction counts: {why}");
            instructions_skipped = Some(why);
            Vec::new()
        })
    };

    let meta = Meta {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: command_output(
            "git",
            &["-C", &repo_root().to_string_lossy(), "describe", "--always", "--dirty"],
        ),
        rustc: rustc_version(),
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        hypervisor: lscpu_field("Hypervisor vendor"),
        load: (load_start, loadavg()),
        duration_secs: start.elapsed().as_secs_f64(),
        clock,
        config,
        trace: trace_info,
    };
    let results = Results {
        meta,
        allocators: infos,
        records,
        instructions,
        instructions_skipped,
        throughput_instructions,
    };
    finish(&results, out, markdown)?;
    println!("bench: done in {:.0} s", results.meta.duration_secs);
    verdict(&results, out)
}

/// Seconds per worker above which an allocator's throughput job is not split into rounds: each
/// worker repeats the verification pass, which for a heap this slow costs more than the timed
/// passes, and such a heap's figures are far enough from the others' that the drift the rounds
/// average out does not change its place.
const ROUND_LIMIT_SECS: f64 = 1.0;

/// What a worker costs whatever the heap: starting the process, generating the program,
/// mapping and pre-faulting the arena (about 0.08 s natively for the smallest program).
const WORKER_FIXED_SECS: f64 = 0.08;

/// Whether `alloc` runs all repetitions of the throughput `job` in one worker: when its worker
/// would take over [`ROUND_LIMIT_SECS`], predicted from its worker at the previous live-set
/// size of the same variant, the part above [`WORKER_FIXED_SECS`] scaled by the ratio of the
/// sizes (a first-fit heap's time per operation grows with the live set).
fn runs_alone(
    last_worker: &std::collections::HashMap<(String, bool), (usize, f64)>,
    alloc: &str,
    job: &jobs::Job,
) -> bool {
    let jobs::Job::Throughput { n, realloc, .. } = job else { return false };
    last_worker.get(&(alloc.to_owned(), *realloc)).is_some_and(|&(prev_n, secs)| {
        let ratio = (*n as f64 / prev_n.max(1) as f64).max(1.0);
        WORKER_FIXED_SECS + (secs - WORKER_FIXED_SECS).max(0.0) * ratio > ROUND_LIMIT_SECS
    })
}

/// Callgrind runs a program about this many times slower than natively (measured on the
/// random-actions programs: 30–60×); used to leave out programs that would take too long.
const CALLGRIND_SLOWDOWN: f64 = 60.0;

/// The longest a random-actions program may be expected to take under callgrind, seconds.
const CALLGRIND_PROGRAM_LIMIT_SECS: f64 = 10.0;

/// Runs the random-actions programs at `config.instr_live_sizes` (both variants) once more under
/// callgrind, one worker per allocator (see `bench::instructions::measure_throughput`). A
/// program is left out, with the reason, when its native run did not complete uncut or when
/// one native timed pass × [`CALLGRIND_SLOWDOWN`] exceeds [`CALLGRIND_PROGRAM_LIMIT_SECS`].
/// Without valgrind, the reason, if there was a program to count.
fn throughput_instruction_counts(
    allocs: &[bench::heaps::NamedAllocator],
    config: &Config,
    records: &[Record],
    timeout: Duration,
) -> Result<Vec<ThroughputInstr>, String> {
    let counted = records.iter().any(|r| {
        matches!(r.job, jobs::Job::Throughput { n, .. } if config.instr_live_sizes.contains(&n))
    });
    if !counted {
        return Ok(Vec::new());
    }
    let Some(valgrind) = instructions::find_valgrind() else {
        return Err("valgrind not found (set BENCH_VALGRIND or put it on PATH)".to_owned());
    };
    let mut out = Vec::new();
    for a in allocs {
        let mut planned: Vec<(usize, bool, jobs::Job)> = Vec::new();
        for realloc in [false, true] {
            for &n in &config.instr_live_sizes {
                let native = records.iter().find(|r| {
                    r.alloc == a.name
                        && matches!(r.job, jobs::Job::Throughput { n: jn, realloc: jr, .. } if jn == n && jr == realloc)
                });
                let skip = match native.map(|r| (&r.job, &r.outcome)) {
                    Some((job, JobOutcome::Throughput(bench::run::Outcome::Ok(t)))) => {
                        let pass = bench::report::Summary::of(&t.ops_per_sec).median;
                        let est = t.ops as f64 / pass * CALLGRIND_SLOWDOWN;
                        if t.ops < t.of {
                            Some(format!(
                                "its native run was cut by the time budget ({} of {} operations)",
                                t.ops, t.of
                            ))
                        } else if est > CALLGRIND_PROGRAM_LIMIT_SECS {
                            Some(format!("too slow for callgrind: about {est:.0} s expected ({:.0} ms per native pass × {CALLGRIND_SLOWDOWN:.0})", t.ops as f64 / pass * 1e3))
                        } else {
                            let mut j = job.clone();
                            if let jobs::Job::Throughput { reps, verify, .. } = &mut j {
                                *reps = 1;
                                *verify = false;
                            }
                            planned.push((n, realloc, j));
                            None
                        }
                    }
                    Some((_, o)) => Some(format!("no native figure ({})", short_outcome(o))),
                    None => None,
                };
                if let Some(why) = skip {
                    out.push(ThroughputInstr {
                        alloc: a.name.to_owned(),
                        n,
                        realloc,
                        outcome: bench::run::Outcome::Unavailable(why),
                    });
                }
            }
        }
        if planned.is_empty() {
            continue;
        }
        let start = Instant::now();
        let list: Vec<jobs::Job> = planned.iter().map(|p| p.2.clone()).collect();
        let counted = instructions::measure_throughput(&valgrind, a.name, &list, timeout * 10);
        let secs = start.elapsed().as_secs_f64();
        for ((n, realloc, _), outcome) in planned.into_iter().zip(counted) {
            let shown = match &outcome {
                bench::run::Outcome::Ok(c) => {
                    format!("{:.1} instructions per heap op", c.per_op().unwrap_or(0.0))
                }
                other => format!("{other:?}"),
            };
            println!(
                "[callgrind] {:<26} random actions N={n}{} {shown}",
                a.name,
                if realloc { " with realloc" } else { "" }
            );
            out.push(ThroughputInstr { alloc: a.name.to_owned(), n, realloc, outcome });
        }
        println!("[callgrind] {:<26} random actions: {secs:.1} s", a.name);
    }
    Ok(out)
}

/// A one-line account of an outcome that is not a figure.
fn short_outcome(o: &JobOutcome) -> String {
    use bench::run::Outcome;
    match o {
        JobOutcome::Throughput(Outcome::Oom { phase, .. }) => {
            format!("out of memory in the {phase}")
        }
        JobOutcome::Throughput(Outcome::Failed(_)) | JobOutcome::Crashed(_) => "failed".into(),
        JobOutcome::Throughput(Outcome::Unavailable(_)) => "unavailable".into(),
        _ => "not measured".into(),
    }
}

/// Runs every allocator's small-object jobs once more under callgrind, for exact instruction
/// counts (see `bench::instructions`). Without valgrind, none, and the reason.
fn instruction_counts(
    allocs: &[bench::heaps::NamedAllocator],
    job_list: &[jobs::Job],
    timeout: Duration,
) -> (Vec<InstrRecord>, Option<String>) {
    let small: Vec<jobs::Job> = job_list
        .iter()
        .filter_map(|j| match j {
            // One repetition: the counts do not vary between runs.
            jobs::Job::SmallObjects { program, n, seed, arena, .. } => {
                Some(jobs::Job::SmallObjects {
                    program: *program,
                    n: *n,
                    reps: 1,
                    seed: *seed,
                    arena: *arena,
                })
            }
            _ => None,
        })
        .collect();
    if small.is_empty() {
        return (Vec::new(), None);
    }
    let Some(valgrind) = instructions::find_valgrind() else {
        let why = "valgrind not found (set BENCH_VALGRIND or put it on PATH)".to_owned();
        println!("SKIPPED instruction counts: {why}");
        return (Vec::new(), Some(why));
    };
    // Callgrind runs a program tens of times slower; one repetition under it takes about as
    // long as the worker's timeout allows for all repetitions natively, with room to spare at
    // ten times that (the slowest, FirstFit (hardened), takes 15 s of 3,000 in a full run).
    let timeout = timeout * 10;
    let mut out = Vec::new();
    for job in &small {
        let jobs::Job::SmallObjects { program, n, .. } = job else { continue };
        for a in allocs {
            let start = Instant::now();
            let outcome = instructions::measure(&valgrind, a.name, job, timeout);
            let shown = match &outcome {
                bench::run::Outcome::Ok(c) => {
                    format!("{:.1} instructions per heap op", c.per_op().unwrap_or(0.0))
                }
                other => format!("{other:?}"),
            };
            println!(
                "[callgrind] {:<26} {:<22} {shown} ({:.1} s)",
                a.name,
                program.name(),
                start.elapsed().as_secs_f64()
            );
            out.push(InstrRecord { alloc: a.name.to_owned(), program: *program, n: *n, outcome });
        }
    }
    (out, None)
}

/// Lists our heaps that could not run in `skipped.txt` (read by `cargo xtask bench`, which
/// reports them as SKIPPED), and fails the run if one of ours failed a check or crashed.
/// A peer's failure is a finding, reported in the tables, not a failure of the harness.
fn verdict(results: &Results, out: &Path) -> Result<(), String> {
    let mut skipped = String::new();
    let mut failed = Vec::new();
    for a in results.allocators.iter().filter(|a| a.name.starts_with("bareheap")) {
        let recs: Vec<&Record> = results.records.iter().filter(|r| r.alloc == a.name).collect();
        let unavailable = recs.iter().find_map(|r| unavailable_reason(&r.outcome));
        if let Some(why) = unavailable {
            println!("SKIPPED {}: {why}", a.name);
            skipped.push_str(&format!("{}: {why}\n", a.name));
        }
        for r in recs {
            if let Some(why) = failure(&r.outcome) {
                failed.push(format!("{} — {}: {why}", r.alloc, job_name(&r.job)));
            }
        }
    }
    if let Some(why) = &results.instructions_skipped {
        skipped.push_str(&format!("instruction counts (callgrind): {why}\n"));
    }
    for r in results.instructions.iter().filter(|r| r.alloc.starts_with("bareheap")) {
        if let bench::run::Outcome::Failed(why) = &r.outcome {
            failed.push(format!("{} — {} under callgrind: {why}", r.alloc, r.program.name()));
        }
    }
    for r in results.throughput_instructions.iter().filter(|r| r.alloc.starts_with("bareheap")) {
        if let bench::run::Outcome::Failed(why) = &r.outcome {
            failed.push(format!(
                "{} — random actions N={}{} under callgrind: {why}",
                r.alloc,
                r.n,
                if r.realloc { " with realloc" } else { "" }
            ));
        }
    }
    std::fs::write(out.join("skipped.txt"), skipped).map_err(|e| e.to_string())?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("bareheap failed:\n  {}", failed.join("\n  ")))
    }
}

fn unavailable_reason(o: &JobOutcome) -> Option<String> {
    use bench::run::Outcome::Unavailable;
    match o {
        JobOutcome::Throughput(Unavailable(e))
        | JobOutcome::Efficiency(Unavailable(e))
        | JobOutcome::Latency(Unavailable(e))
        | JobOutcome::Replay(Unavailable(e))
        | JobOutcome::SmallObjects(Unavailable(e)) => {
            (e != bench::small::NOT_APPLICABLE).then(|| e.clone())
        }
        _ => None,
    }
}

fn failure(o: &JobOutcome) -> Option<String> {
    use bench::run::Outcome::Failed;
    match o {
        JobOutcome::Throughput(Failed(e))
        | JobOutcome::Efficiency(Failed(e))
        | JobOutcome::Latency(Failed(e))
        | JobOutcome::Replay(Failed(e))
        | JobOutcome::SmallObjects(Failed(e)) => Some(e.clone()),
        JobOutcome::Crashed(e) => Some(format!("worker: {e}")),
        _ => None,
    }
}

fn report(out: &Path, markdown: Option<&Path>) -> Result<(), String> {
    let json = std::fs::read_to_string(out.join("results.json"))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let results: Results = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    finish(&results, out, markdown)
}

/// Writes files and plots, prints the tables, renders the markdown.
fn finish(results: &Results, out: &Path, markdown: Option<&Path>) -> Result<(), String> {
    results.write_files(out).map_err(|e| format!("writing results: {e}"))?;
    bench::plot::all(results, out).map_err(|e| format!("plotting: {e}"))?;
    println!("\n{}", results.markdown());
    if let Some(md) = markdown {
        let template_path = bench_dir().join("BENCHMARKS.md.in");
        let template = std::fs::read_to_string(&template_path)
            .map_err(|e| format!("{}: {e}", template_path.display()))?;
        // The on-target results of each core (`cargo xtask bench`'s target step).
        let on_target: Vec<(&str, String)> = ["cortex-m3", "cortex-m0", "riscv32imac"]
            .into_iter()
            .map(|core| {
                let path = bench_dir().join(format!("results/{core}.md"));
                let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                    format!("_Not measured yet: `bench/results/{core}.md` does not exist. `cargo xtask bench` produces it._\n")
                });
                (core, demote_headings(&text))
            })
            .collect();
        std::fs::write(md, results.render(&template, &on_target))
            .map_err(|e| format!("{}: {e}", md.display()))?;
        println!("bench: wrote {}", md.display());
    }
    Ok(())
}

/// Nests an included markdown file under a `##` section: `#` → `###`, `##` → `####`, ...
fn demote_headings(md: &str) -> String {
    let mut in_code = false;
    md.lines()
        .map(|l| {
            if l.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            if !in_code && l.starts_with('#') {
                format!("##{l}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn brief(rec: &Record) -> String {
    use bench::run::Outcome;
    fn other<T>(o: &Outcome<T>) -> String {
        match o {
            Outcome::Ok(_) => "ok".into(),
            Outcome::Oom { at, of, phase } => format!("OOM at {phase} op {at}/{of}"),
            Outcome::Failed(e) => format!("FAILED: {e}"),
            Outcome::Unavailable(e) => format!("n/a: {e}"),
        }
    }
    match &rec.outcome {
        JobOutcome::Throughput(Outcome::Ok(t)) => {
            let s = bench::report::Summary::of(&t.ops_per_sec);
            format!("{:.2} Mops/s ±{:.0}%", s.median / 1e6, s.spread_pct())
        }
        JobOutcome::Efficiency(Outcome::Ok(e)) => {
            format!("{:.1}%", e.ratio.iter().sum::<f64>() / e.ratio.len() as f64 * 100.0)
        }
        JobOutcome::Latency(Outcome::Ok(l)) => {
            match bench::report::PercentilesSummary::runs(l, 0) {
                Some(p) => format!("alloc p99.99 {}", bench::report::with_range(&p.p9999, p.sets)),
                None => "no timed repetition".into(),
            }
        }
        JobOutcome::Replay(Outcome::Ok(r)) => {
            let s = bench::report::Summary::of(&r.secs);
            format!("{:.1} ms, footprint {} KiB", s.median * 1e3, r.footprint / 1024)
        }
        JobOutcome::SmallObjects(Outcome::Ok(t)) => {
            let s = bench::report::Summary::of(&t.ops_per_sec);
            format!(
                "{:.2} Mops/s ±{:.0}% (max {} B)",
                s.median / 1e6,
                s.spread_pct(),
                t.max_request
            )
        }
        JobOutcome::Throughput(o) => other(o),
        JobOutcome::SmallObjects(o) => other(o),
        JobOutcome::Efficiency(o) => other(o),
        JobOutcome::Latency(o) => other(o),
        JobOutcome::Replay(o) => other(o),
        JobOutcome::Crashed(e) => format!("FAILED (worker): {e}"),
    }
}

/// `(name, version)` of every package in the workspace's `Cargo.lock`.
fn lock_versions() -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(repo_root().join("Cargo.lock")) else { return vec![] };
    let Ok(doc) = text.parse::<toml::Table>() else { return vec![] };
    let Some(pkgs) = doc.get("package").and_then(|p| p.as_array()) else { return vec![] };
    pkgs.iter()
        .filter_map(|p| {
            Some((p.get("name")?.as_str()?.to_owned(), p.get("version")?.as_str()?.to_owned()))
        })
        .collect()
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

fn rustc_version() -> String {
    command_output("rustc", &["-V"])
}

fn cpu_model() -> String {
    let m = lscpu_field("Model name");
    if m.is_empty() {
        "unknown".into()
    } else {
        m
    }
}

fn lscpu_field(name: &str) -> String {
    let out = command_output("lscpu", &[]);
    out.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.trim_start().strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default()
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: usize, realloc: bool) -> jobs::Job {
        jobs::Job::Throughput {
            n,
            realloc,
            ops: 10,
            reps: 5,
            seed: 0,
            arena: 0,
            budget_secs: 1.0,
            verify: true,
        }
    }

    #[test]
    fn runs_alone_scales_the_last_worker_time_by_the_live_set_ratio() {
        let mut last = std::collections::HashMap::new();
        assert!(!runs_alone(&last, "a", &job(200, true)), "no history: in rounds");
        last.insert(("a".to_owned(), true), (3000, 0.4));
        assert!(runs_alone(&last, "a", &job(10000, true)), "0.08 + 0.32 s × 10/3 > 1 s");
        assert!(!runs_alone(&last, "a", &job(10000, false)), "the other variant has no history");
        last.insert(("a".to_owned(), true), (3000, 0.3));
        assert!(!runs_alone(&last, "a", &job(10000, true)), "0.08 + 0.22 s × 10/3 < 1 s");
        last.insert(("a".to_owned(), true), (1000, 0.15));
        assert!(!runs_alone(&last, "a", &job(10000, true)), "a fast heap: 0.08 + 0.07 × 10");
        assert!(!runs_alone(&last, "a", &jobs::Job::Efficiency { arena: 1, seeds: 1 }));
    }
}
