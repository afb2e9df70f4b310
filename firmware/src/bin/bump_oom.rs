//! `Bump` behind a critical section as the global allocator runs out of memory: null, not a
//! panic, and after everything is freed it serves as much as before (see `firmware::oom`).
#![no_std]
#![no_main]

use bareheap::{Bump, CriticalSection, HeapMemory, Locked};
use firmware::board;
use firmware::oom::{self, Global};
use firmware::runner;

static MEMORY: HeapMemory<{ board::ARENA / 2 }> = HeapMemory::new();

#[global_allocator]
static HEAP: Locked<CriticalSection, Bump> = Locked::new(Bump::new());

#[firmware::entry]
fn main() -> ! {
    let mut global = Global::claim(&HEAP, &MEMORY);
    runner::run("bump_oom", &mut global, &oom::tests())
}
