//! Region init and growth: any length at any base offset, adjacent and apart.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bareheap_testkit::fuzzing::regions::<bareheap::FirstFit>(data));
