//! `Tlsf` as the global allocator runs out of memory: null, not a panic, and it recovers.
//! Also what a program sees through `Vec::try_reserve`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use bareheap::{CriticalSection, HeapMemory, Locked, Tlsf};
use firmware::oom::{self, Global};
use firmware::runner::{self, Outcome, Test};
use firmware::{board, ensure, hprintln};

static MEMORY: HeapMemory<{ board::ARENA / 2 }> = HeapMemory::new();

#[global_allocator]
static HEAP: Locked<CriticalSection, Tlsf> = Locked::new(Tlsf::new());

#[firmware::entry]
fn main() -> ! {
    let mut global = Global::claim(&HEAP, &MEMORY);
    let own = [Test {
        name: "vec_try_reserve_beyond_capacity_errs_gracefully",
        run: vec_try_reserve_beyond_capacity_errs_gracefully,
    }];
    runner::run_tables("tlsf_oom", &mut global, &[&oom::tests(), &own])
}

fn vec_try_reserve_beyond_capacity_errs_gracefully(g: &mut Global<Tlsf>) -> Outcome {
    let mut v: Vec<u32> = (0..100).collect();
    let too_many = g.capacity; // 4 bytes each: four times the heap
    let err = v.try_reserve(too_many);
    hprintln!("    try_reserve({} more u32) -> {:?}", too_many, err);
    ensure!(
        err.is_err(),
        "reserving {} bytes succeeded on a {} byte heap",
        too_many * 4,
        g.capacity
    );
    let overflow = v.try_reserve(usize::MAX);
    hprintln!("    try_reserve(usize::MAX) -> {:?}", overflow);
    ensure!(overflow.is_err(), "reserving usize::MAX elements succeeded");
    ensure!(v.iter().copied().eq(0..100), "the vector changed after failed reservations");
    v.push(100);
    ensure!(v.len() == 101 && v[100] == 100, "the vector is unusable after failed reservations");
    drop(v);
    g.validate()
}
