//! `Tlsf` as the global allocator, used from the timer interrupt handler and from `main` at
//! once (see `firmware::isr`).
#![no_std]
#![no_main]

firmware::isr_program!("tlsf_isr", bareheap::Tlsf, bareheap::Tlsf::new(), seed = 2);
