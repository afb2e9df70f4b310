//! `Tlsf` under the seeded random workload of `firmware::stress`, on the Heap trait.
#![no_std]
#![no_main]

use bareheap::{HeapMemory, Tlsf};
use cortex_m_rt::entry;
use firmware::stress;

static MEMORY: HeapMemory<{ 16 * 1024 }> = HeapMemory::new();

#[entry]
fn main() -> ! {
    stress::main("tlsf_stress", Tlsf::new(), &MEMORY)
}
