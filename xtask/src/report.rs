//! Runs checks and keeps the tally: each prints PASS, FAIL or SKIPPED, never silently passes.

use std::process::{Command, ExitCode};
use std::time::Instant;

pub struct Report {
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<(String, String)>,
}

impl Report {
    pub fn new() -> Self {
        Report { passed: Vec::new(), failed: Vec::new(), skipped: Vec::new() }
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
