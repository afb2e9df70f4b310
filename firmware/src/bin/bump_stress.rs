//! `Bump` under the seeded random workload of `firmware::stress`, on the Heap trait.
#![no_std]
#![no_main]

use bareheap::{Bump, HeapMemory};
use firmware::{board, stress};

static MEMORY: HeapMemory<{ board::ARENA }> = HeapMemory::new();

#[firmware::entry]
fn main() -> ! {
    stress::main("bump_stress", Bump::new(), &MEMORY)
}
