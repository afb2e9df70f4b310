//! `FirstFit` under the seeded random workload of `firmware::stress`, on the Heap trait.
#![no_std]
#![no_main]

use bareheap::{FirstFit, HeapMemory};
use firmware::{board, stress};

static MEMORY: HeapMemory<{ board::ARENA }> = HeapMemory::new();

#[firmware::entry]
fn main() -> ! {
    stress::main("first_fit_stress", FirstFit::new(), &MEMORY)
}
