//! Runs checks and keeps the tally: each prints PASS, FAIL or SKIPPED, never silently passes.

use std::process::{Command, ExitCode};
use std::time::Instant;

pub struct Report {
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<(String, String)>,
    /// Every check that ran, in order, with its wall-clock seconds (the summary's timing table).
    timings: Vec<(String, f64)>,
}

impl Report {
    pub fn new() -> Self {
        Report { passed: Vec::new(), failed: Vec::new(), skipped: Vec::new(), timings: Vec::new() }
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
            println!("  {total:>7.1} s  total ({:.1} min)", total / 60.0);
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
