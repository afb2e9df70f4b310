//! `AtomicBump`, the lock-free bump allocator (a critical section on cores without
//! compare-and-swap), as the global allocator used from the timer interrupt handler and from
//! `main` at once (see `firmware::isr::LifoLoad`).
#![no_std]
#![no_main]

use bareheap::{AtomicBump, HeapMemory};
use firmware::isr::{self, LifoLoad};
use firmware::runner::{self, Outcome, Test};
use firmware::{board, hprintln};

static MEMORY: HeapMemory<{ board::ARENA * 3 / 2 }> = HeapMemory::new();

#[global_allocator]
static HEAP: AtomicBump = AtomicBump::new();

static LOAD: LifoLoad = LifoLoad::new(0x1575_0002);

#[firmware::entry]
fn main() -> ! {
    let region = MEMORY.take().expect("the heap memory is taken once, here");
    match HEAP.claim(region) {
        Ok(capacity) => hprintln!("AtomicBump (global allocator): capacity {}", capacity),
        Err(e) => panic!("AtomicBump refused its region: {}", e),
    }
    let tests = [Test {
        name: "alloc_in_interrupt_and_main_interleaved_lifo_reclaimed_no_corruption",
        run: alloc_in_interrupt_and_main_interleaved_lifo_reclaimed_no_corruption,
    }];
    runner::run("atomic_bump_isr", &mut (), &tests)
}

/// What the timer interrupt does.
fn tick() {
    LOAD.tick(&HEAP, || HEAP.used());
}

fn alloc_in_interrupt_and_main_interleaved_lifo_reclaimed_no_corruption(_: &mut ()) -> Outcome {
    let cfg = isr::Config {
        seed: 0x3A1_0002,
        isr_allocs: 5_000,
        isr_allocs_required: 2_000,
        min_main_ops: 20_000,
        max_main_ops: 2_000_000,
    };
    let validate = || HEAP.validate();
    isr::run_lifo(&HEAP, || HEAP.used(), validate, &LOAD, tick, cfg)
}
