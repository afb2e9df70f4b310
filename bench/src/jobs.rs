//! What a run measures, and the worker processes that measure it.
//!
//! Every (allocator, job) pair runs in its own child process (`bench worker`): a heap that
//! crashes, hangs or corrupts the process heap takes down only its own measurement, which is then
//! reported as failed; and every allocator starts from the same fresh process state. Workers run
//! one at a time, so they never compete with each other for the two cores.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::heaps::{registry, Arena, NamedAllocator};
use crate::run::{self, Efficiency, Latency, Outcome, Replay, Throughput};
use crate::timer::Clock;
use crate::trace::Trace;
use crate::workload;

/// One measurement to make for each allocator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind")]
pub enum Job {
    /// Workload 1.
    Throughput {
        /// Live-set size.
        n: usize,
        /// Whether 20 % of the steady operations are reallocs.
        realloc: bool,
        /// Timed (steady-state) operations per repetition.
        ops: usize,
        /// Timed repetitions.
        reps: usize,
        /// Seed of the program.
        seed: u64,
        /// Arena bytes.
        arena: usize,
        /// Time budget of the verification pass, seconds (see [`run::throughput`]).
        budget_secs: f64,
    },
    /// Workload 2.
    Efficiency {
        /// Arena bytes.
        arena: usize,
        /// Seeds `1..=seeds`.
        seeds: u64,
    },
    /// Workload 3.
    Latency {
        /// Live-set size.
        n: usize,
        /// Timed operations per repetition.
        ops: usize,
        /// Timed repetitions.
        reps: usize,
        /// Seed of the program.
        seed: u64,
        /// Arena bytes.
        arena: usize,
        /// Time budget of the verification pass, seconds.
        budget_secs: f64,
    },
    /// Workload 4.
    Replay {
        /// The trace file.
        trace: PathBuf,
        /// Timed repetitions.
        reps: usize,
        /// Arena bytes.
        arena: usize,
    },
}

/// The result of one job for one allocator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum JobOutcome {
    /// Workload 1.
    Throughput(Outcome<Throughput>),
    /// Workload 2.
    Efficiency(Outcome<Efficiency>),
    /// Workload 3.
    Latency(Outcome<Latency>),
    /// Workload 4.
    Replay(Outcome<Replay>),
    /// The worker process died, hung or printed nothing usable.
    Crashed(String),
}

/// One row of the raw results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Allocator name (as in the registry).
    pub alloc: String,
    /// The job.
    pub job: Job,
    /// What happened.
    pub outcome: JobOutcome,
    /// Wall time of the worker, seconds.
    pub wall_secs: f64,
}

/// The sizes of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// "full" or "quick".
    pub mode: String,
    /// Live-set sizes of workload 1.
    pub live_sizes: Vec<usize>,
    /// Timed operations per repetition of workload 1.
    pub throughput_ops: usize,
    /// Timed repetitions of workload 1.
    pub throughput_reps: usize,
    /// Arena of workloads 1 and 3.
    pub big_arena: usize,
    /// Arena of workload 2.
    pub efficiency_arena: usize,
    /// Seeds of workload 2.
    pub efficiency_seeds: u64,
    /// Live-set size of workload 3.
    pub latency_n: usize,
    /// Timed operations per repetition of workload 3.
    pub latency_ops: usize,
    /// Timed repetitions of workload 3.
    pub latency_reps: usize,
    /// Timed repetitions of workload 4.
    pub replay_reps: usize,
    /// Time budget of one verification pass of workloads 1 and 3, seconds.
    pub budget_secs: f64,
    /// Worker time limit, seconds.
    pub worker_timeout_secs: u64,
}

/// Seed of the random-actions programs (one per live-set size: `SEED + n`).
pub const SEED: u64 = 0xB4E4_0000;

impl Config {
    /// The committed measurement (about 10 minutes on 2 cores) or the smoke test (under 2).
    pub fn new(quick: bool) -> Config {
        if quick {
            Config {
                mode: "quick".into(),
                live_sizes: vec![200, 1000, 3000, 10000, 30000],
                throughput_ops: 10_000,
                throughput_reps: 1,
                big_arena: 64 << 20,
                efficiency_arena: 1 << 20,
                efficiency_seeds: 20,
                latency_n: 3000,
                latency_ops: 20_000,
                latency_reps: 1,
                replay_reps: 1,
                budget_secs: 0.3,
                worker_timeout_secs: 60,
            }
        } else {
            Config {
                mode: "full".into(),
                live_sizes: vec![200, 1000, 3000, 10000, 30000],
                throughput_ops: 100_000,
                throughput_reps: 5,
                big_arena: 64 << 20,
                efficiency_arena: 1 << 20,
                efficiency_seeds: 32,
                latency_n: 3000,
                latency_ops: 300_000,
                latency_reps: 5,
                replay_reps: 7,
                budget_secs: 3.0,
                worker_timeout_secs: 300,
            }
        }
    }

    /// Every job of the run, in order.
    pub fn jobs(&self, trace: PathBuf, trace_arena: usize) -> Vec<Job> {
        let mut jobs = Vec::new();
        for realloc in [true, false] {
            for &n in &self.live_sizes {
                jobs.push(Job::Throughput {
                    n,
                    realloc,
                    ops: self.throughput_ops,
                    reps: self.throughput_reps,
                    seed: SEED + n as u64,
                    arena: self.big_arena,
                    budget_secs: self.budget_secs,
                });
            }
        }
        jobs.push(Job::Efficiency { arena: self.efficiency_arena, seeds: self.efficiency_seeds });
        jobs.push(Job::Latency {
            n: self.latency_n,
            ops: self.latency_ops,
            reps: self.latency_reps,
            seed: SEED + 1,
            arena: self.big_arena,
            budget_secs: self.budget_secs,
        });
        jobs.push(Job::Replay { trace, reps: self.replay_reps, arena: trace_arena });
        jobs
    }
}

/// The arena for replaying `trace`: four times its peak live payload, rounded up to 1 MiB. Room
/// for any general-purpose heap's overhead and fragmentation; the footprint column shows how
/// much of it each one actually touched.
pub fn trace_arena(trace: &Trace) -> usize {
    ((trace.peak_live as usize) * 4).next_multiple_of(1 << 20)
}

/// Runs one job for one allocator in this process (the worker side).
pub fn execute(alloc: &NamedAllocator, job: &Job) -> JobOutcome {
    match job {
        Job::Throughput { n, realloc, ops, reps, seed, arena, budget_secs } => {
            let program = workload::random_actions(*seed, *n, *ops, *realloc);
            let mut arena = Arena::new(*arena);
            let budget = Some(Duration::from_secs_f64(*budget_secs));
            JobOutcome::Throughput(run::throughput(alloc, &mut arena, &program, *reps, budget))
        }
        Job::Efficiency { arena, seeds } => {
            let mut arena = Arena::new(*arena);
            let seeds: Vec<u64> = (1..=*seeds).collect();
            JobOutcome::Efficiency(run::efficiency(alloc, &mut arena, &seeds))
        }
        Job::Latency { n, ops, reps, seed, arena, budget_secs } => {
            let clock = Clock::calibrate(Duration::from_millis(50));
            let program = workload::random_actions(*seed, *n, *ops, true);
            let mut arena = Arena::new(*arena);
            let budget = Some(Duration::from_secs_f64(*budget_secs));
            JobOutcome::Latency(run::latency(alloc, &mut arena, &program, *reps, budget, &clock))
        }
        Job::Replay { trace, reps, arena } => {
            let trace = match std::fs::read(trace)
                .map_err(|e| e.to_string())
                .and_then(|b| Trace::decode(&b))
            {
                Ok(t) => t,
                Err(e) => return JobOutcome::Replay(Outcome::Unavailable(format!("trace: {e}"))),
            };
            let mut arena = Arena::new(*arena);
            JobOutcome::Replay(run::replay(alloc, &mut arena, &trace, *reps))
        }
    }
}

/// Runs one job for one allocator in a child process, with a time limit.
pub fn spawn(alloc: &NamedAllocator, job: &Job, timeout: Duration) -> Record {
    let start = Instant::now();
    let outcome = spawn_inner(alloc, job, timeout).unwrap_or_else(JobOutcome::Crashed);
    Record {
        alloc: alloc.name.to_owned(),
        job: job.clone(),
        outcome,
        wall_secs: start.elapsed().as_secs_f64(),
    }
}

fn spawn_inner(alloc: &NamedAllocator, job: &Job, timeout: Duration) -> Result<JobOutcome, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let job_json = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["worker", "--alloc", alloc.name, "--job", &job_json])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start worker: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    if !status.success() {
        let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return Err(format!("worker died ({status}): {tail}"));
    }
    serde_json::from_str(out.trim()).map_err(|e| format!("unreadable worker output ({e}): {err}"))
}

/// The worker entry point: runs `job` for the allocator named `name`, prints the JSON outcome.
pub fn worker(name: &str, job_json: &str) -> Result<(), String> {
    let job: Job = serde_json::from_str(job_json).map_err(|e| format!("bad job: {e}"))?;
    let alloc =
        registry().into_iter().find(|a| a.name == name).ok_or(format!("no allocator {name:?}"))?;
    let outcome = execute(&alloc, &job);
    println!("{}", serde_json::to_string(&outcome).map_err(|e| e.to_string())?);
    Ok(())
}
