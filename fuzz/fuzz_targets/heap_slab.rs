//! Slab over FirstFit: decoded operation programs.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bareheap_testkit::fuzzing::heap::<bareheap::Slab<bareheap::FirstFit>>(data));
