//! Test harness for bareheap heaps: operation programs, a shadow model that checks every
//! result, and guarded arenas.
//!
//! The same harness drives host property tests, the catalogue tests of `RELIABILITY.md`, fuzz
//! targets ([`decode`] turns fuzzer bytes into a program) and, without `std`, firmware stress
//! binaries.
//!
//! # What is checked
//!
//! A [`Rig`] owns a heap, the [`Arena`]s it was given and a [`Shadow`] of the live blocks.
//! For every block a heap returns, the shadow checks that it is aligned, inside memory the
//! heap was given, and disjoint from every live block; the rig then fills it with a pattern
//! derived from the block's id and verifies the pattern before the block is freed or resized
//! and after a resize (up to the smaller size, so a wrong copy length is caught). The heap's
//! `validate()` runs after every call (configurable). At the end the rig frees everything and
//! checks the heap is pristine (catalogue row E3: the same capacity as a fresh heap given the
//! same regions) and that no byte outside the given regions changed (rows A1/A2).
//!
//! `None` from a heap is always legal (it is counted): the harness checks safety and
//! integrity, not efficiency.
//!
//! # Negative controls
//!
//! [`RefHeap`] is a simple, obviously correct heap the harness is tested on; each
//! [`faulty::Faulty`] heap plants one fault that the harness must catch.
//!
//! # Running
//!
//! ```text
//! cargo test -p bareheap-testkit [--release]          # everything (also part of `cargo xtask test`)
//! cargo test -p bareheap-testkit --test property -- --nocapture   # prints the op counters
//! BAREHEAP_SEED=123 cargo test -p bareheap-testkit --test property # another seed
//! MIRIFLAGS=-Zmiri-strict-provenance cargo +nightly miri test -p bareheap-testkit --test catalogue
//! ```
//!
//! Under Miri every test runs with fewer operations and a thinned-out parameter space.
//!
//! # Features
//!
//! - `arbitrary` (default): [`decode`], `Op: arbitrary::Arbitrary` and the [`fuzzing`] entry
//!   points, for fuzz targets.
//! - `loop-counters` (default): turns on `bareheap/loop-counters`; the rig then holds every call
//!   of a counting heap against its documented loop bound and records the most iterations per
//!   operation in [`Stats`] (RELIABILITY.md F6).
//! - `host-isr` (Unix): [`isr`], a SIGALRM model of an interrupt that allocates.
//!
//! Without default features the crate is `no_std` (it needs `alloc`), for firmware stress
//! binaries.
//!
//! ```
//! use bareheap_testkit::{program, run, Config, RefHeap, RegionSpec};
//! let stats = run(RefHeap::new(), program(1, 5_000), &[RegionSpec::new(64 << 10)], Config::default());
//! assert_eq!(stats.ops, 5_000);
//! assert!(stats.allocs > 1_000 && stats.validations > 5_000);
//! ```
#![no_std]

extern crate alloc;

pub mod arena;
pub mod faulty;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
#[cfg(all(feature = "host-isr", unix))]
pub mod isr;
pub mod op;
pub mod reference;
pub mod rig;
pub mod shadow;
pub mod subject;

pub use arena::Arena;
#[cfg(feature = "arbitrary")]
pub use op::decode;
pub use op::{program, GenConfig, Op, OpGen};
pub use reference::RefHeap;
pub use rig::{capacity_profile, run, Block, Config, RegionSpec, Rig, Stats};
pub use shadow::Shadow;
pub use subject::{BoundOp, TestHeap};
