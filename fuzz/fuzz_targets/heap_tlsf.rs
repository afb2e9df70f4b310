//! Tlsf: decoded operation programs, every result checked by the shadow model.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bareheap_testkit::fuzzing::heap::<bareheap::Tlsf>(data));
