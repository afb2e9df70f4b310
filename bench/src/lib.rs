//! Side-by-side host benchmarks of bareheap's heaps against the peer allocators.
//!
//! `cargo xtask bench` runs them (see `BENCHMARKS.md` at the repository root for the method and
//! the committed results). The pieces:
//!
//! - [`heaps`]: the [`BenchHeap`](heaps::BenchHeap) trait and the registry of allocators;
//! - [`workload`]: seeded operation sequences and their distributions;
//! - [`run`]: the four workloads and their checks;
//! - [`trace`]: the recorded-trace format;
//! - [`timer`]: the per-operation clock;
//! - [`jobs`]: what a run measures, and the worker processes that measure it;
//! - [`report`] and [`plot`]: tables, CSV/JSON, `BENCHMARKS.md` and PNG plots.

pub mod heaps;
pub mod jobs;
pub mod plot;
pub mod report;
pub mod run;
pub mod timer;
pub mod trace;
pub mod workload;
