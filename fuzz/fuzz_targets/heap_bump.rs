//! Bump: decoded operation programs in drain-and-reset rounds.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bareheap_testkit::fuzzing::heap::<bareheap::Bump>(data));
