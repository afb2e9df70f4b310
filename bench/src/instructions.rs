//! Exact host instruction counts of each heap call, measured with callgrind (valgrind).
//!
//! Timed figures on a shared machine move by tens of percent between runs; instruction counts
//! do not. For the small-object programs (workload 5) every allocator's worker runs once more
//! under `valgrind --tool=callgrind`, and this module reads the call graph it writes: the
//! instructions spent inside the heap's `alloc`, `dealloc` and `realloc` (inclusive, so a
//! heap's own helpers count) and the number of calls, taken on the edges from the router
//! (`small::Router`) into the heap. Calls a heap makes to itself (a peer's realloc done as
//! alloc + copy + free) stay inside the caller's count. The router's own work, the same for
//! every heap, is not counted.
//!
//! The random-actions programs (workload 1) are counted the same way, but only in their steady
//! phase: one process per allocator runs each selected program once (one timed pass, no
//! verification pass: the native run verified the same program), and callgrind writes a dump
//! as `bench::run::timed_steady` (the steady phase of a timed pass) is entered and another as
//! it returns: the second holds exactly the steady phase, not the fill, not the drain. Each such
//! dump must hold one heap call per steady operation, or the count is reported as failed.
//! (`--toggle-collect` on that function is not used: it limits the instructions collected but
//! not the call counts, which then include the fill's.)
//!
//! The counts are x86-64 instructions of the release build, deterministic for a given binary
//! (same seeds, same program), but not cycles: cache misses and branch mispredictions are
//! not in them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::jobs::Job;
use crate::run::Outcome;
use crate::small::Program;

/// Calls of one kind and the instructions spent in them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    /// Number of calls.
    pub calls: u64,
    /// Instructions executed inside them, inclusive.
    pub instructions: u64,
}

impl Calls {
    /// Instructions per call, if there was a call.
    pub fn per_call(self) -> Option<f64> {
        (self.calls > 0).then(|| self.instructions as f64 / self.calls as f64)
    }
}

/// The heap calls of one program run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapCalls {
    /// `alloc`.
    pub alloc: Calls,
    /// `dealloc`.
    pub free: Calls,
    /// `realloc`.
    pub realloc: Calls,
}

impl HeapCalls {
    /// Instructions per heap operation, all kinds together.
    pub fn per_op(&self) -> Option<f64> {
        let calls = self.alloc.calls + self.free.calls + self.realloc.calls;
        let instructions =
            self.alloc.instructions + self.free.instructions + self.realloc.instructions;
        (calls > 0).then(|| instructions as f64 / calls as f64)
    }
}

/// One allocator on one program, under callgrind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstrRecord {
    /// Allocator name.
    pub alloc: String,
    /// The program.
    pub program: Program,
    /// Its live-set size.
    pub n: usize,
    /// The counts, or why there are none.
    pub outcome: Outcome<HeapCalls>,
}

/// One allocator on one random-actions program (workload 1), under callgrind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThroughputInstr {
    /// Allocator name.
    pub alloc: String,
    /// Live-set size.
    pub n: usize,
    /// Whether 20 % of the steady operations are reallocs.
    pub realloc: bool,
    /// The counts of the steady phase, or why there are none.
    pub outcome: Outcome<HeapCalls>,
}

/// The function callgrind dumps before and after, for workload 1: its demangled name, exactly
/// (`--dump-before`/`--dump-after` take no wildcard; valgrind 3.19).
const STEADY_FN: &str = "bench::run::timed_steady";

/// The `valgrind` to use: `$BENCH_VALGRIND`, else the first `valgrind` on `PATH`.
pub fn find_valgrind() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BENCH_VALGRIND") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("valgrind"))
        .find(|p| p.is_file())
}

/// Runs the worker for `alloc` and `job` (a small-object job, one repetition) under
/// callgrind and counts its heap calls.
pub fn measure(valgrind: &Path, alloc: &str, job: &Job, timeout: Duration) -> Outcome<HeapCalls> {
    match measure_inner(valgrind, alloc, job, timeout) {
        Ok(o) => o,
        Err(e) => Outcome::Failed(e),
    }
}

fn measure_inner(
    valgrind: &Path,
    alloc: &str,
    job: &Job,
    timeout: Duration,
) -> Result<Outcome<HeapCalls>, String> {
    let job_json = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let out_file = out_file(alloc, "small");
    let ran = run_callgrind(valgrind, &out_file, &[], alloc, &job_json, timeout);
    let text = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    let stdout = ran?;
    // The worker prints its own outcome: a heap that does not apply (never frees) or could
    // not run says so there, and that is the record.
    let worker: crate::jobs::JobOutcome =
        serde_json::from_str(stdout.trim()).map_err(|e| format!("worker output: {e}"))?;
    match worker {
        crate::jobs::JobOutcome::SmallObjects(Outcome::Ok(_)) => {}
        crate::jobs::JobOutcome::SmallObjects(Outcome::Unavailable(e)) => {
            return Ok(Outcome::Unavailable(e))
        }
        crate::jobs::JobOutcome::SmallObjects(Outcome::Oom { at, of, phase }) => {
            return Ok(Outcome::Oom { at, of, phase })
        }
        other => return Err(format!("worker under callgrind: {other:?}")),
    }
    let text = text.map_err(|e| format!("{}: {e}", out_file.display()))?;
    let calls = parse(&text)?;
    if calls.alloc.calls == 0 {
        return Err("no heap call found in the callgrind output".into());
    }
    Ok(Outcome::Ok(calls))
}

/// Runs the worker for `alloc` with `job_json` under callgrind (writing `out_file`, with
/// `extra` options); its standard output.
fn run_callgrind(
    valgrind: &Path,
    out_file: &Path,
    extra: &[&str],
    alloc: &str,
    job_json: &str,
    timeout: Duration,
) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(valgrind);
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        // Plain names and absolute positions: the file is read by `parse` below.
        .args(["--compress-strings=no", "--compress-pos=no"])
        .args(extra)
        .arg(&exe)
        .args(["worker", "--alloc", alloc, "--job", job_json]);
    let (status, stdout, stderr) =
        crate::jobs::run_child(&mut cmd, timeout).map_err(|e| format!("callgrind: {e}"))?;
    if !status.success() {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!("callgrind worker exited with {status}: {last}"));
    }
    Ok(stdout)
}

fn out_file(alloc: &str, what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "bench-callgrind-{}-{}-{what}.out",
        std::process::id(),
        alloc_slug(alloc)
    ))
}

/// Runs the random-actions `jobs` (workload 1, one timed pass each, no verification pass) for
/// `alloc` in one worker under callgrind and counts the heap calls of each one's steady phase:
/// one outcome per job, in order.
pub fn measure_throughput(
    valgrind: &Path,
    alloc: &str,
    jobs: &[Job],
    timeout: Duration,
) -> Vec<Outcome<HeapCalls>> {
    match measure_throughput_inner(valgrind, alloc, jobs, timeout) {
        Ok(v) => v,
        Err(e) => jobs.iter().map(|_| Outcome::Failed(e.clone())).collect(),
    }
}

fn measure_throughput_inner(
    valgrind: &Path,
    alloc: &str,
    jobs: &[Job],
    timeout: Duration,
) -> Result<Vec<Outcome<HeapCalls>>, String> {
    let jobs_json = serde_json::to_string(jobs).map_err(|e| e.to_string())?;
    let base = out_file(alloc, "throughput");
    let before = format!("--dump-before={STEADY_FN}");
    let after = format!("--dump-after={STEADY_FN}");
    let ran = run_callgrind(valgrind, &base, &[&before, &after], alloc, &jobs_json, timeout);
    // Callgrind numbers its dumps `BASE.1`, `BASE.2`, ... and writes the rest at exit to `BASE`:
    // dump 2i - 1 runs up to the i-th steady phase, dump 2i is that phase.
    let dumps: Vec<Result<String, String>> = (1..=jobs.len())
        .map(|i| {
            let path = PathBuf::from(format!("{}.{}", base.display(), 2 * i));
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect();
    for i in 0..=2 * jobs.len() + 1 {
        let path = match i {
            0 => base.clone(),
            i => PathBuf::from(format!("{}.{i}", base.display())),
        };
        let _ = std::fs::remove_file(path);
    }
    let stdout = ran?;
    let outcomes: Vec<crate::jobs::JobOutcome> =
        serde_json::from_str(stdout.trim()).map_err(|e| format!("worker output: {e}"))?;
    if outcomes.len() != jobs.len() {
        return Err(format!("worker gave {} outcomes for {} jobs", outcomes.len(), jobs.len()));
    }
    let all_ok =
        outcomes.iter().all(|o| matches!(o, crate::jobs::JobOutcome::Throughput(Outcome::Ok(_))));
    Ok(outcomes
        .into_iter()
        .zip(dumps)
        .map(|(o, dump)| match o {
            // Dump 2i belongs to job i only when every job reached its steady phase.
            crate::jobs::JobOutcome::Throughput(Outcome::Ok(t)) if all_ok => {
                match dump.and_then(|text| parse(&text)) {
                    Ok(c) => steady_counts(c, t.ops),
                    Err(e) => Outcome::Failed(e),
                }
            }
            crate::jobs::JobOutcome::Throughput(Outcome::Ok(_)) => Outcome::Failed(
                "not counted: another program of the same worker did not finish".into(),
            ),
            crate::jobs::JobOutcome::Throughput(Outcome::Oom { at, of, phase }) => {
                Outcome::Oom { at, of, phase }
            }
            crate::jobs::JobOutcome::Throughput(Outcome::Unavailable(e)) => Outcome::Unavailable(e),
            other => Outcome::Failed(format!("worker under callgrind: {other:?}")),
        })
        .collect())
}

/// The counts of a steady phase of `ops` operations, each of which is one heap call: a dump
/// holding any other number of calls is not that phase.
fn steady_counts(c: HeapCalls, ops: usize) -> Outcome<HeapCalls> {
    let calls = c.alloc.calls + c.free.calls + c.realloc.calls;
    if calls == ops as u64 {
        Outcome::Ok(c)
    } else {
        Outcome::Failed(format!("{calls} heap calls counted in a steady phase of {ops} operations"))
    }
}

fn alloc_slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// The heap method a function name is, if it is one of the measured heap's `BenchHeap`
/// methods (`<bench::heaps::X as bench::heaps::BenchHeap>::alloc` and so on). The router's
/// installation probe (`bench::small::router_installed::Nothing`) is not a measured heap.
fn heap_method(name: &str) -> Option<&'static str> {
    let rest = name.strip_prefix("<bench::heaps::")?;
    let method = rest.rsplit_once(" as bench::heaps::BenchHeap>::")?.1;
    ["alloc", "dealloc", "realloc"].into_iter().find(|m| *m == method)
}

/// Reads a callgrind output file written with `--compress-strings=no --compress-pos=no`:
/// sums the calls and inclusive instructions of every call edge into a heap method whose
/// caller is not itself a heap method (see the module docs).
///
/// The format: `fn=NAME` starts a function's block; in it, `cfn=NAME` names a callee, the
/// next `calls=COUNT TARGET` line gives the call count, and the line after that is
/// `POSITION INCLUSIVE_COST` (the first event, instructions, is the only one collected).
pub fn parse(text: &str) -> Result<HeapCalls, String> {
    let mut out = HeapCalls::default();
    let mut caller_is_heap = false;
    let mut callee: Option<&'static str> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("fn=") {
            caller_is_heap = heap_method(name).is_some();
            callee = None;
        } else if let Some(name) = line.strip_prefix("cfn=") {
            callee = heap_method(name);
        } else if let Some(rest) = line.strip_prefix("calls=") {
            let Some(method) = callee.take() else { continue };
            let count: u64 = rest
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad calls line: {line}"))?;
            let cost_line = lines.next().ok_or("calls line at the end of the file")?;
            let cost: u64 = cost_line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad cost line after a call: {cost_line}"))?;
            if caller_is_heap {
                continue;
            }
            let slot = match method {
                "alloc" => &mut out.alloc,
                "dealloc" => &mut out.free,
                _ => &mut out.realloc,
            };
            slot.calls += count;
            slot.instructions += cost;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
version: 1
events: Ir
fn=std::thread::local::LocalKey<T>::with
148 10
cfn=<bench::heaps::Ours<H> as bench::heaps::BenchHeap>::alloc
calls=100 228 
148 4700
cfn=<bench::small::router_installed::Nothing as bench::heaps::BenchHeap>::alloc
calls=1 218 
148 2
cfn=<bench::heaps::TalcHeap as bench::heaps::BenchHeap>::realloc
calls=3 236 
171 900
fn=<bench::small::Router as core::alloc::global::GlobalAlloc>::dealloc
cfn=<bench::heaps::Ours<H> as bench::heaps::BenchHeap>::dealloc
calls=90 233 
160 4500
fn=<bench::heaps::TalcHeap as bench::heaps::BenchHeap>::realloc
cfn=<bench::heaps::TalcHeap as bench::heaps::BenchHeap>::alloc
calls=3 228 
40 300
";

    #[test]
    fn parse_counts_router_edges_only() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(
            c.alloc,
            Calls { calls: 100, instructions: 4700 },
            "probe and nested alloc excluded"
        );
        assert_eq!(c.free, Calls { calls: 90, instructions: 4500 });
        assert_eq!(c.realloc, Calls { calls: 3, instructions: 900 });
        assert_eq!(c.alloc.per_call(), Some(47.0));
        assert_eq!(c.per_op(), Some(10100.0 / 193.0));
    }

    #[test]
    fn steady_counts_must_match_the_operations() {
        let c = parse(SAMPLE).unwrap();
        assert!(matches!(steady_counts(c, 193), Outcome::Ok(_)));
        assert!(matches!(steady_counts(c, 183), Outcome::Failed(_)), "a dump with the fill in it");
    }

    #[test]
    fn parse_rejects_a_truncated_call() {
        let text =
            "fn=x\ncfn=<bench::heaps::Ours<H> as bench::heaps::BenchHeap>::alloc\ncalls=5 1\n";
        assert!(parse(text).is_err());
    }

    #[test]
    fn heap_method_names() {
        assert_eq!(
            heap_method("<bench::heaps::Ours<H> as bench::heaps::BenchHeap>::dealloc"),
            Some("dealloc")
        );
        assert_eq!(
            heap_method("<bench::heaps::DlHeap as bench::heaps::BenchHeap>::realloc"),
            Some("realloc")
        );
        assert_eq!(
            heap_method("<bench::small::Router as core::alloc::global::GlobalAlloc>::alloc"),
            None
        );
        assert_eq!(heap_method("<bench::heaps::Ours<H> as bench::heaps::BenchHeap>::name"), None);
    }
}
