//! `Tlsf` as the global allocator, used from the SysTick handler and from `main` at once
//! (see `firmware::isr`).
#![no_std]
#![no_main]

use bareheap::{CriticalSection, HeapMemory, Locked, Tlsf};
use cortex_m_rt::{entry, exception};
use firmware::isr::{self, IsrLoad};
use firmware::oom::Global;
use firmware::runner::{self, Failed, Outcome, Test};

static MEMORY: HeapMemory<{ 24 * 1024 }> = HeapMemory::new();

#[global_allocator]
static HEAP: Locked<CriticalSection, Tlsf> = Locked::new(Tlsf::new());

static LOAD: IsrLoad = IsrLoad::new(0x1575_0002);

/// SysTick period in core clock cycles: a few thousand, so the handler runs thousands of times
/// while `main` works.
const RELOAD: u32 = 2_000 - 1;

#[exception]
fn SysTick() {
    LOAD.tick(&HEAP);
}

#[entry]
fn main() -> ! {
    let mut global = Global::claim(&HEAP, &MEMORY);
    let tests = [Test {
        name: "alloc_in_systick_and_main_interleaved_no_corruption",
        run: alloc_in_systick_and_main_interleaved_no_corruption,
    }];
    runner::run("tlsf_isr", &mut global, &tests)
}

fn alloc_in_systick_and_main_interleaved_no_corruption(g: &mut Global<Tlsf>) -> Outcome {
    let Some(mut core) = cortex_m::Peripherals::take() else { return Err(Failed) };
    let cfg = isr::Config {
        seed: 0x3A1_0002,
        isr_allocs: 5_000,
        isr_allocs_required: 2_000,
        min_main_ops: 20_000,
        max_main_ops: 2_000_000,
    };
    isr::run(g, &LOAD, &mut core.SYST, RELOAD, cfg)
}
