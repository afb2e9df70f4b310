//! `Tlsf` as the global allocator, used from the timer interrupt handler and from `main` at once
//! (see `firmware::isr`).
#![no_std]
#![no_main]

use bareheap::{CriticalSection, HeapMemory, Locked, Tlsf};
use firmware::board;
use firmware::isr::{self, IsrLoad};
use firmware::oom::Global;
use firmware::runner::{self, Outcome, Test};

static MEMORY: HeapMemory<{ board::ARENA * 3 / 2 }> = HeapMemory::new();

#[global_allocator]
static HEAP: Locked<CriticalSection, Tlsf> = Locked::new(Tlsf::new());

static LOAD: IsrLoad = IsrLoad::new(0x1575_0002);

#[firmware::entry]
fn main() -> ! {
    let mut global = Global::claim(&HEAP, &MEMORY);
    let tests = [Test {
        name: "alloc_in_interrupt_and_main_interleaved_no_corruption",
        run: alloc_in_interrupt_and_main_interleaved_no_corruption,
    }];
    runner::run("tlsf_isr", &mut global, &tests)
}

/// What the timer interrupt does.
fn tick() {
    LOAD.tick(&HEAP);
}

fn alloc_in_interrupt_and_main_interleaved_no_corruption(g: &mut Global<Tlsf>) -> Outcome {
    let cfg = isr::Config {
        seed: 0x3A1_0002,
        isr_allocs: 5_000,
        isr_allocs_required: 2_000,
        min_main_ops: 20_000,
        max_main_ops: 2_000_000,
    };
    isr::run(g, &LOAD, tick, cfg)
}
