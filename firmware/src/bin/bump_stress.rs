//! `Bump` under the seeded random workload of `firmware::stress`, on the Heap trait.
#![no_std]
#![no_main]

firmware::stress_program!("bump_stress", bareheap::Bump::new());
