//! Runs checks and keeps the tally: each prints PASS, FAIL or SKIPPED, never silently passes.

use std::process::{Command, ExitCode};
use std::time::Instant;

pub struct Report {
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<(String, String)>,
    /// Every check that ran, in order, with its wall-clock seconds (the summary's timing table).
    timings: Vec<(String, f64)>,
    /// Where the commands' own output goes when this report runs beside another one (see
    /// [`Report::logging_to`]); the terminal otherwise.
    log: Option<std::fs::File>,
    /// When the run began (the wall-clock total of the summary).
    started: Instant,
}

impl Report {
    pub fn new() -> Self {
        Report {
            passed: Vec::new(),
            failed: Vec::new(),
            skipped: Vec::new(),
            timings: Vec::new(),
            log: None,
            started: Instant::now(),
        }
    }

    /// A report for steps that run in a thread beside the main ones: the commands write to
    /// `path` instead of the terminal (their PASS/FAIL lines still print), so the two streams
    /// do not interleave. Merge it back with [`Report::merge`].
    pub fn logging_to(path: &std::path::Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Report { log: Some(std::fs::File::create(path)?), ..Report::new() })
    }

    /// Takes in the results of a report that ran in parallel; its steps are marked `[parallel]`
    /// in the durations table (they overlapped the others, so the total overstates wall time).
    pub fn merge(&mut self, other: Report) {
        self.passed.extend(other.passed);
        self.failed.extend(other.failed);
        self.skipped.extend(other.skipped);
        self.timings.extend(other.timings.into_iter().map(|(n, s)| (format!("[parallel] {n}"), s)));
    }

    /// Runs `cargo <args>` in the workspace root as the check `name`.
    pub fn cargo(&mut self, name: &str, args: &[&str]) -> bool {
        let mut cmd = Command::new(crate::setup::cargo());
        cmd.args(args).current_dir(crate::setup::root());
        self.run(name, cmd)
    }

    /// Runs `cargo <args>` with extra environment variables.
    pub fn cargo_env(&mut self, name: &str, args: &[&str], env: &[(&str, &str)]) -> bool {
        let mut cmd = Command::new(crate::setup::cargo());
        cmd.args(args).envs(env.iter().copied()).current_dir(crate::setup::root());
        self.run(name, cmd)
    }

    /// Runs `cmd` as the check `name`; its exit status is the verdict.
    pub fn run(&mut self, name: &str, mut cmd: Command) -> bool {
        println!("\n==> {name}");
        if let Some(log) = &self.log {
            if let (Ok(out), Ok(err)) = (log.try_clone(), log.try_clone()) {
                cmd.stdout(out).stderr(err);
            }
        }
        let start = Instant::now();
        let ok = match cmd.status() {
            Ok(status) => status.success(),
            Err(e) => {
                eprintln!("could not start {cmd:?}: {e}");
                false
            }
        };
        self.record(name, ok, start);
        ok
    }

    /// Records the outcome of a check run by other means.
    pub fn record(&mut self, name: &str, ok: bool, start: Instant) {
        let secs = start.elapsed().as_secs_f64();
        self.timings.push((name.to_owned(), secs));
        if ok {
            println!("PASS {name} ({secs:.1} s)");
            self.passed.push(name.to_owned());
        } else {
            println!("FAIL {name} ({secs:.1} s)");
            self.failed.push(name.to_owned());
        }
    }

    /// A check that could not run here. Printed loudly; never counted as passed.
    /// Whether any step has failed so far.
    pub fn failed_any(&self) -> bool {
        !self.failed.is_empty()
    }

    pub fn skip(&mut self, name: &str, why: &str) {
        println!("SKIPPED {name}: {why}");
        self.skipped.push((name.to_owned(), why.to_owned()));
    }

    pub fn finish(self) -> ExitCode {
        if !self.timings.is_empty() {
            println!("\n==> durations (wall clock)");
            for (name, secs) in &self.timings {
                println!("  {secs:>7.1} s  {name}");
            }
            let total: f64 = self.timings.iter().map(|(_, s)| s).sum();
            println!("  {total:>7.1} s  sum of the steps ({:.1} min)", total / 60.0);
            let wall = self.started.elapsed().as_secs_f64();
            println!("  {wall:>7.1} s  wall clock, start to end ({:.1} min)", wall / 60.0);
        }
        println!("\n==> summary");
        for name in &self.failed {
            println!("  FAIL    {name}");
        }
        for (name, why) in &self.skipped {
            println!("  SKIPPED {name}: {why}");
        }
        println!(
            "xtask: {} passed, {} failed, {} skipped",
            self.passed.len(),
            self.failed.len(),
            self.skipped.len()
        );
        if self.failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
