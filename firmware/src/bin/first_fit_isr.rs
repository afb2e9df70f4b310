//! `FirstFit` as the global allocator, used from the timer interrupt handler and from `main`
//! at once (see `firmware::isr`).
#![no_std]
#![no_main]

firmware::isr_program!("first_fit_isr", bareheap::FirstFit, bareheap::FirstFit::new(), seed = 1);
