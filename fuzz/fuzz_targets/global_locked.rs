//! Locked<Spin, FirstFit> through GlobalAlloc: alloc, alloc_zeroed, dealloc, realloc.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bareheap_testkit::fuzzing::global::<bareheap::Spin, bareheap::FirstFit>(data));
