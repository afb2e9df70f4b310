//! `Bump` behind a critical section as the global allocator runs out of memory: null, not a
//! panic, and after everything is freed it serves as much as before (see `firmware::oom`).
#![no_std]
#![no_main]

firmware::oom_program!("bump_oom", bareheap::Bump, bareheap::Bump::new());
