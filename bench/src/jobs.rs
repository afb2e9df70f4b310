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
use crate::small::{self, SmallObjects};
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
        /// Whether the verification pass runs (false only in the callgrind re-run of a program
        /// that passed it natively, see [`crate::instructions`]).
        #[serde(default = "yes")]
        verify: bool,
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
    /// Workload 5.
    SmallObjects {
        /// Tree or map churn.
        program: small::Program,
        /// Nodes of the tree, or live keys of the map.
        n: usize,
        /// Timed repetitions.
        reps: usize,
        /// Seed of the program.
        seed: u64,
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
    /// Workload 5.
    SmallObjects(Outcome<SmallObjects>),
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
    /// Wall time of the worker, seconds (of all its workers, when run in rounds).
    pub wall_secs: f64,
    /// Worker processes the record's repetitions come from (see [`spawn_rounds`]).
    #[serde(default = "one")]
    pub workers: usize,
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
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
    /// Rounds the repetitions of workload 1 are split into (see [`spawn_rounds`]); 0 or 1: one
    /// worker per allocator.
    #[serde(default)]
    pub throughput_rounds: usize,
    /// Live-set sizes of workload 1 also counted under callgrind (see [`crate::instructions`]).
    #[serde(default)]
    pub instr_live_sizes: Vec<usize>,
    /// Arena of workloads 1 and 5.
    pub big_arena: usize,
    /// Arena of workload 2.
    pub efficiency_arena: usize,
    /// Seeds of workload 2.
    pub efficiency_seeds: u64,
    /// Live-set size of workload 3.
    pub latency_n: usize,
    /// Timed operations per repetition of workload 3.
    pub latency_ops: usize,
    /// Timed repetitions of workload 3 per worker: at least 2 for a per-operation floor.
    /// (In results from before the rounds: of the one worker.)
    pub latency_reps: usize,
    /// Rounds of workload 3, each one worker per allocator running all `latency_reps` (see
    /// [`spawn_rounds`]); 0 in results from before the rounds (one worker).
    #[serde(default)]
    pub latency_rounds: usize,
    /// Arena of workload 3 (in results from before it had its own: 0, and `big_arena` was
    /// used): the live set of N=3000 takes under 8 MiB, and every worker pre-faults its
    /// whole arena, which for 64 MiB cost more than the timed runs.
    #[serde(default)]
    pub latency_arena: usize,
    /// Timed repetitions of workload 4.
    pub replay_reps: usize,
    /// Tree nodes and live map keys of workload 5.
    #[serde(default)]
    pub small_n: usize,
    /// Timed repetitions of workload 5.
    #[serde(default)]
    pub small_reps: usize,
    /// Rounds the repetitions of workload 5 are split into (see [`spawn_rounds`]); 0 or 1:
    /// one worker per allocator, as for the other workloads.
    #[serde(default)]
    pub small_rounds: usize,
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
                throughput_reps: 2,
                throughput_rounds: 2,
                // One size: valgrind's start-up (about 2.5 s per allocator) dominates here.
                instr_live_sizes: vec![1000],
                big_arena: 64 << 20,
                efficiency_arena: 1 << 20,
                efficiency_seeds: 20,
                latency_n: 3000,
                latency_ops: 10_000,
                latency_reps: 2,
                latency_rounds: 2,
                latency_arena: 16 << 20,
                replay_reps: 1,
                small_n: 5_000,
                small_reps: 3,
                small_rounds: 3,
                budget_secs: 0.3,
                worker_timeout_secs: 60,
            }
        } else {
            Config {
                mode: "full".into(),
                live_sizes: vec![200, 1000, 3000, 10000, 30000],
                throughput_ops: 100_000,
                throughput_reps: 5,
                throughput_rounds: 5,
                instr_live_sizes: vec![1000, 10000],
                big_arena: 64 << 20,
                efficiency_arena: 1 << 20,
                efficiency_seeds: 32,
                latency_n: 3000,
                latency_ops: 70_000,
                latency_reps: 3,
                latency_rounds: 5,
                latency_arena: 16 << 20,
                replay_reps: 7,
                small_n: 20_000,
                small_reps: 21,
                small_rounds: 21,
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
                    verify: true,
                });
            }
        }
        jobs.push(Job::Efficiency { arena: self.efficiency_arena, seeds: self.efficiency_seeds });
        jobs.push(Job::Latency {
            n: self.latency_n,
            ops: self.latency_ops,
            reps: self.latency_reps,
            seed: SEED + 1,
            arena: self.latency_arena,
            budget_secs: self.budget_secs,
        });
        jobs.push(Job::Replay { trace, reps: self.replay_reps, arena: trace_arena });
        for program in [small::Program::Tree, small::Program::BTree] {
            jobs.push(Job::SmallObjects {
                program,
                n: self.small_n,
                reps: self.small_reps,
                seed: SEED + 5,
                arena: self.big_arena,
            });
        }
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
        Job::Throughput { n, realloc, ops, reps, seed, arena, budget_secs, verify } => {
            let program = workload::random_actions(*seed, *n, *ops, *realloc);
            let mut arena = Arena::new(*arena);
            let budget = Some(Duration::from_secs_f64(*budget_secs));
            JobOutcome::Throughput(run::throughput(
                alloc, &mut arena, &program, *reps, budget, *verify,
            ))
        }
        Job::Efficiency { arena, seeds } => {
            let mut arena = Arena::new(*arena);
            let seeds: Vec<u64> = (1..=*seeds).collect();
            JobOutcome::Efficiency(run::efficiency(alloc, &mut arena, &seeds))
        }
        Job::Latency { n, ops, reps, seed, arena, budget_secs } => {
            // 10 ms: a rate error of about 1e-5 (`Instant`'s own), and a small part of a
            // worker, which every round repeats.
            let clock = Clock::calibrate(Duration::from_millis(10));
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
        Job::SmallObjects { program, n, reps, seed, arena } => {
            let mut arena = Arena::new(*arena);
            JobOutcome::SmallObjects(small::small_objects(
                alloc, &mut arena, *program, *n, *reps, *seed,
            ))
        }
    }
}

/// Runs `job` (which takes `reps` repetitions) for every allocator in `rounds` interleaved
/// rounds: each round runs one worker per allocator with its share of the repetitions (all of
/// them for workload 3, whose every worker is a whole measurement: its per-operation floor is
/// a minimum over its own repetitions), the allocators in an order rotated by one each round.
/// The records hold every repetition (for workload 3, every round's figures).
/// An allocator for which `alone` is true runs all its repetitions in one worker, in the first
/// round (for a slow heap, whose every worker repeats a verification pass of seconds).
///
/// Why: a repetition takes a few milliseconds, and on a shared machine the speed of the same
/// binary drifts by up to 1.7× between one second and the next (other processes' cache and
/// memory traffic, the host's scheduling), while the heaps differ by 10–30 %. Run one after
/// another, each allocator's repetitions would fall in one such period and the rows would
/// compare periods; interleaved, every row samples the same periods. Each worker is still a
/// fresh process with its own arena and verification pass.
///
/// A job whose verification pass hit the time budget in the first round times that same
/// prefix in the later ones (they verify the prefix whole, without a budget).
pub fn spawn_rounds(
    allocs: &[NamedAllocator],
    job: &Job,
    rounds: usize,
    timeout: Duration,
    alone: &dyn Fn(&NamedAllocator) -> bool,
) -> Vec<Record> {
    let (Some(reps), Some(shares)) = (reps_of(job), shares(job, rounds)) else {
        return allocs.iter().map(|a| spawn(a, job, timeout)).collect();
    };
    let mut merged: Vec<Option<Record>> = allocs.iter().map(|_| None).collect();
    for (round, &share) in shares.iter().enumerate() {
        for k in 0..allocs.len() {
            let i = (k + round) % allocs.len();
            let alone = alone(&allocs[i]);
            let part = match &merged[i] {
                // Done in one worker.
                Some(_) if alone => continue,
                // A failed or unavailable allocator is not run again.
                Some(acc) if !outcome_ok(&acc.outcome) => continue,
                Some(acc) => later_round(job, share, &acc.outcome),
                None => with_reps(job, if alone { reps } else { share }),
            };
            let rec = spawn(&allocs[i], &part, timeout);
            merged[i] = Some(match merged[i].take() {
                None => rec,
                Some(acc) => merge(acc, rec),
            });
        }
    }
    merged
        .into_iter()
        .map(|r| {
            let mut r = r.expect("every allocator ran at least one round");
            r.job = job.clone();
            r
        })
        .collect()
}

/// The repetitions of each of `rounds` rounds of `job` (at least one round, and none without
/// a repetition): workloads 1 and 5 share theirs out, every round of workload 3 runs all of
/// them. None for a job that does not run in rounds.
fn shares(job: &Job, rounds: usize) -> Option<Vec<usize>> {
    let reps = reps_of(job)?;
    if matches!(job, Job::Latency { .. }) {
        return Some(vec![reps; rounds.max(1)]);
    }
    let rounds = rounds.clamp(1, reps.max(1));
    Some((0..rounds).map(|round| reps / rounds + usize::from(round < reps % rounds)).collect())
}

/// The repetitions of a job that runs in rounds (workloads 1, 3 and 5).
fn reps_of(job: &Job) -> Option<usize> {
    match job {
        Job::Throughput { reps, .. }
        | Job::Latency { reps, .. }
        | Job::SmallObjects { reps, .. } => Some(*reps),
        _ => None,
    }
}

/// `job` with `share` repetitions.
fn with_reps(job: &Job, share: usize) -> Job {
    let mut part = job.clone();
    if let Job::Throughput { reps, .. }
    | Job::Latency { reps, .. }
    | Job::SmallObjects { reps, .. } = &mut part
    {
        *reps = share;
    }
    part
}

/// The job of a later round, after a first round that ended with `first`: `share`
/// repetitions, and, if the first round's verification pass was cut by the time budget, the
/// same prefix of the program, verified whole.
fn later_round(job: &Job, share: usize, first: &JobOutcome) -> Job {
    let mut part = with_reps(job, share);
    let timed = match first {
        JobOutcome::Throughput(Outcome::Ok(t)) => Some((t.ops, t.of)),
        JobOutcome::Latency(Outcome::Ok(l)) => Some((l.ops, l.of)),
        _ => None,
    };
    if let (
        Job::Throughput { ops, budget_secs, .. } | Job::Latency { ops, budget_secs, .. },
        Some((timed, of)),
    ) = (&mut part, timed)
    {
        if timed < of {
            // The program's first `timed` steady operations are the whole program of that
            // length (`workload::random_actions` draws them in order).
            *ops = timed;
            *budget_secs = 1e6;
        }
    }
    part
}

fn outcome_ok(o: &JobOutcome) -> bool {
    matches!(
        o,
        JobOutcome::Throughput(Outcome::Ok(_))
            | JobOutcome::Latency(Outcome::Ok(_))
            | JobOutcome::SmallObjects(Outcome::Ok(_))
    )
}

/// Adds the repetitions of a later round to `acc`; a failure of any round is the outcome, and
/// so is a round that did different work.
fn merge(mut acc: Record, rec: Record) -> Record {
    acc.wall_secs += rec.wall_secs;
    acc.workers += rec.workers;
    acc.outcome = match (acc.outcome, rec.outcome) {
        (JobOutcome::SmallObjects(Outcome::Ok(a)), JobOutcome::SmallObjects(Outcome::Ok(b))) => {
            JobOutcome::SmallObjects(combine(
                "operation counts",
                |s| s.heap_ops,
                a,
                b,
                |a, b| {
                    a.ops_per_sec.extend(b.ops_per_sec);
                    a.max_request = a.max_request.max(b.max_request);
                },
            ))
        }
        (JobOutcome::Throughput(Outcome::Ok(a)), JobOutcome::Throughput(Outcome::Ok(b))) => {
            let timed = |t: &Throughput| t.ops as u64;
            JobOutcome::Throughput(combine("timed operation counts", timed, a, b, |a, b| {
                a.ops_per_sec.extend(b.ops_per_sec);
            }))
        }
        (JobOutcome::Latency(Outcome::Ok(a)), JobOutcome::Latency(Outcome::Ok(b))) => {
            let timed = |l: &Latency| l.ops as u64;
            JobOutcome::Latency(combine("timed operation counts", timed, a, b, |a, b| {
                a.rounds.extend(b.rounds);
            }))
        }
        (_, other) => other,
    };
    acc
}

/// `a` with the later round `b` added by `add`, if the two did the same work (`work` counts
/// it); otherwise a failure.
fn combine<T>(
    what: &str,
    work: impl Fn(&T) -> u64,
    mut a: T,
    b: T,
    add: impl FnOnce(&mut T, T),
) -> Outcome<T> {
    let (x, y) = (work(&a), work(&b));
    if x != y {
        return Outcome::Failed(format!("rounds made different {what} ({x} and {y})"));
    }
    add(&mut a, b);
    Outcome::Ok(a)
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
        workers: 1,
    }
}

fn spawn_inner(alloc: &NamedAllocator, job: &Job, timeout: Duration) -> Result<JobOutcome, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let job_json = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(["worker", "--alloc", alloc.name, "--job", &job_json]);
    let (status, out, err) = run_child(&mut cmd, timeout)?;
    if !status.success() {
        let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return Err(format!("worker died ({status}): {tail}"));
    }
    serde_json::from_str(out.trim()).map_err(|e| format!("unreadable worker output ({e}): {err}"))
}

/// Runs `cmd` to completion with its output captured, killing it after `timeout`: its exit
/// status, standard output and standard error.
pub fn run_child(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String, String), String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {program}: {e}"))?;
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
    Ok((status, out, err))
}

/// The worker entry point: runs `job` for the allocator named `name`, prints the JSON outcome.
/// A JSON array of jobs runs each in turn, in this process, and prints the array of outcomes
/// (the callgrind re-run of workload 1, which pays valgrind's start-up once per allocator).
pub fn worker(name: &str, job_json: &str) -> Result<(), String> {
    let alloc =
        registry().into_iter().find(|a| a.name == name).ok_or(format!("no allocator {name:?}"))?;
    let json = if job_json.trim_start().starts_with('[') {
        let jobs: Vec<Job> =
            serde_json::from_str(job_json).map_err(|e| format!("bad jobs: {e}"))?;
        let outcomes: Vec<JobOutcome> = jobs.iter().map(|j| execute(&alloc, j)).collect();
        serde_json::to_string(&outcomes)
    } else {
        let job: Job = serde_json::from_str(job_json).map_err(|e| format!("bad job: {e}"))?;
        serde_json::to_string(&execute(&alloc, &job))
    };
    println!("{}", json.map_err(|e| e.to_string())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(outcome: Outcome<SmallObjects>) -> Record {
        Record {
            alloc: "a".into(),
            job: Job::SmallObjects {
                program: small::Program::Tree,
                n: 1,
                reps: 1,
                seed: 0,
                arena: 1,
            },
            outcome: JobOutcome::SmallObjects(outcome),
            wall_secs: 1.0,
            workers: 1,
        }
    }

    fn ok(ops_per_sec: Vec<f64>, heap_ops: u64) -> Outcome<SmallObjects> {
        Outcome::Ok(SmallObjects { ops_per_sec, heap_ops, max_request: 8 })
    }

    #[test]
    fn merge_small_two_rounds_keeps_every_repetition() {
        let m = merge(rec(ok(vec![1.0], 5)), rec(ok(vec![2.0, 3.0], 5)));
        assert_eq!(m.wall_secs, 2.0);
        match m.outcome {
            JobOutcome::SmallObjects(Outcome::Ok(s)) => assert_eq!(s.ops_per_sec, [1.0, 2.0, 3.0]),
            _ => panic!("merged outcome is not Ok"),
        }
    }

    #[test]
    fn merge_small_failed_or_diverging_round_fails_the_record() {
        let m = merge(rec(ok(vec![1.0], 5)), rec(Outcome::Failed("x".into())));
        assert!(matches!(m.outcome, JobOutcome::SmallObjects(Outcome::Failed(_))));
        let m = merge(rec(ok(vec![1.0], 5)), rec(ok(vec![1.0], 6)));
        assert!(matches!(m.outcome, JobOutcome::SmallObjects(Outcome::Failed(_))));
    }

    fn tp(ops_per_sec: Vec<f64>, ops: usize, of: usize) -> Record {
        Record {
            outcome: JobOutcome::Throughput(Outcome::Ok(Throughput { ops_per_sec, ops, of })),
            ..rec(ok(vec![], 0))
        }
    }

    fn throughput_job() -> Job {
        Job::Throughput {
            n: 10,
            realloc: false,
            ops: 100,
            reps: 5,
            seed: 1,
            arena: 1 << 20,
            budget_secs: 3.0,
            verify: true,
        }
    }

    #[test]
    fn merge_throughput_two_rounds_keeps_every_repetition_and_counts_workers() {
        let m = merge(tp(vec![1.0, 2.0], 100, 100), tp(vec![3.0], 100, 100));
        assert_eq!(m.workers, 2);
        match m.outcome {
            JobOutcome::Throughput(Outcome::Ok(t)) => {
                assert_eq!(t.ops_per_sec, [1.0, 2.0, 3.0]);
                assert_eq!((t.ops, t.of), (100, 100));
            }
            _ => panic!("merged outcome is not Ok"),
        }
    }

    #[test]
    fn merge_throughput_rounds_timing_different_prefixes_fail_the_record() {
        let m = merge(tp(vec![1.0], 50, 100), tp(vec![1.0], 60, 100));
        assert!(matches!(m.outcome, JobOutcome::Throughput(Outcome::Failed(_))));
    }

    #[test]
    fn later_round_after_a_cut_times_the_same_prefix_without_budget() {
        let first = JobOutcome::Throughput(Outcome::Ok(Throughput {
            ops_per_sec: vec![1.0],
            ops: 40,
            of: 100,
        }));
        match later_round(&throughput_job(), 2, &first) {
            Job::Throughput { ops, reps, budget_secs, verify, .. } => {
                assert_eq!((ops, reps), (40, 2));
                assert!(budget_secs >= 1e6 && verify);
            }
            other => panic!("{other:?}"),
        }
        let uncut = JobOutcome::Throughput(Outcome::Ok(Throughput {
            ops_per_sec: vec![1.0],
            ops: 100,
            of: 100,
        }));
        assert_eq!(later_round(&throughput_job(), 1, &uncut), with_reps(&throughput_job(), 1));
    }

    fn latency_job() -> Job {
        Job::Latency { n: 10, ops: 100, reps: 3, seed: 1, arena: 1 << 20, budget_secs: 3.0 }
    }

    /// A latency record of one round per figure, each with its alloc p99.99 set to it.
    fn lat(ops: usize, p9999: &[f64]) -> Record {
        let rounds = p9999
            .iter()
            .map(|&v| {
                let p = run::Percentiles { count: 1, p9999: v, ..Default::default() };
                run::LatencyRound {
                    reps: vec![[p.clone(), p.clone(), p]],
                    floor: Default::default(),
                }
            })
            .collect();
        Record {
            job: latency_job(),
            outcome: JobOutcome::Latency(Outcome::Ok(Latency { rounds, ops, of: 100 })),
            ..rec(ok(vec![], 0))
        }
    }

    #[test]
    fn shares_split_throughput_reps_and_repeat_latency_reps_every_round() {
        assert_eq!(shares(&throughput_job(), 5), Some(vec![1; 5]));
        assert_eq!(shares(&throughput_job(), 3), Some(vec![2, 2, 1]));
        assert_eq!(shares(&throughput_job(), 9), Some(vec![1; 5]), "no round without a rep");
        assert_eq!(shares(&latency_job(), 5), Some(vec![3; 5]));
        assert_eq!(shares(&latency_job(), 0), Some(vec![3]));
        assert_eq!(shares(&Job::Efficiency { arena: 1, seeds: 1 }, 5), None);
    }

    #[test]
    fn merge_latency_rounds_keeps_every_round_in_order() {
        let m = merge(merge(lat(100, &[1.0]), lat(100, &[2.0])), lat(100, &[3.0]));
        assert_eq!(m.workers, 3);
        match m.outcome {
            JobOutcome::Latency(Outcome::Ok(l)) => {
                let firsts: Vec<f64> = l.rounds.iter().map(|r| r.reps[0][0].p9999).collect();
                assert_eq!(firsts, [1.0, 2.0, 3.0]);
            }
            _ => panic!("merged outcome is not Ok"),
        }
    }

    #[test]
    fn merge_latency_rounds_timing_different_prefixes_fail_the_record() {
        let m = merge(lat(50, &[1.0]), lat(60, &[1.0]));
        assert!(matches!(m.outcome, JobOutcome::Latency(Outcome::Failed(_))));
    }

    #[test]
    fn later_round_latency_after_a_cut_times_the_same_prefix_with_every_rep() {
        match later_round(&latency_job(), 3, &lat(40, &[1.0]).outcome) {
            Job::Latency { ops, reps, budget_secs, .. } => {
                assert_eq!((ops, reps), (40, 3));
                assert!(budget_secs >= 1e6);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(later_round(&latency_job(), 3, &lat(100, &[1.0]).outcome), latency_job());
    }

    #[test]
    fn throughput_job_without_verify_field_reads_as_verified() {
        let json = r#"{"kind":"Throughput","n":10,"realloc":false,"ops":100,"reps":5,"seed":1,"arena":1048576,"budget_secs":3.0}"#;
        let job: Job = serde_json::from_str(json).unwrap();
        assert_eq!(job, throughput_job());
    }
}
