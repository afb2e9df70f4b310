//! The demo: the book's program, and more, on a Cortex-M3 with bareheap's FirstFit.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use bareheap::{CriticalSection, FirstFit, HeapMemory, Locked};
use cortex_m_rt::entry;
use firmware::hprintln;

static HEAP_MEMORY: HeapMemory<{ 16 * 1024 }> = HeapMemory::new();

#[global_allocator]
static HEAP: Locked<CriticalSection, FirstFit> = Locked::new(FirstFit::new());

#[entry]
fn main() -> ! {
    let region = HEAP_MEMORY.take().expect("taken once");
    HEAP.claim(region).expect("claim");
    #[allow(clippy::vec_init_then_push)] // the book's program, as written there
    let mut v = Vec::new();
    v.push(42);
    v.push(83);
    hprintln!("{:?}", v);
    firmware::exit(firmware::EXIT_PASS)
}
