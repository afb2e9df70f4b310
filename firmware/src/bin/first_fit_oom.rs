//! `FirstFit` as the global allocator runs out of memory: null, not a panic, and it recovers.
//! Also what a program sees through `Vec::try_reserve` (see `firmware::oom`).
#![no_std]
#![no_main]

firmware::oom_program!("first_fit_oom", bareheap::FirstFit, bareheap::FirstFit::new());
