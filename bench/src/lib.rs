//! Side-by-side host benchmarks of bareheap's heaps against the peer allocators.
//!
//! `cargo xtask bench` runs them (see `BENCHMARKS.md` at the repository root for the method and
//! the committed results). The pieces:
//!
//! - [`heaps`]: the [`BenchHeap`](heaps::BenchHeap) trait and the registry of allocators;
//! - [`workload`]: seeded operation sequences and their distributions;
//! - [`run`]: workloads 1-4 and their checks;
//! - [`small`]: workload 5, small objects through `Vec<Box<_>>` and `BTreeMap`;
//! - [`trace`]: the recorded-trace format;
//! - [`timer`]: the per-operation clock;
//! - [`jobs`]: what a run measures, and the worker processes that measure it;
//! - [`instructions`]: exact instruction counts of the heap calls of workload 5, under callgrind;
//! - [`report`] and [`plot`]: tables, CSV/JSON, `BENCHMARKS.md` and PNG plots.

pub mod heaps;
pub mod instructions;
pub mod jobs;
pub mod plot;
pub mod report;
pub mod run;
pub mod small;
pub mod timer;
pub mod trace;
pub mod workload;
