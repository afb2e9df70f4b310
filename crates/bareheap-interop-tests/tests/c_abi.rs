//! bareheap-c called from C: `c/abi_test.c` includes `bareheap.h` (compiled with warnings as
//! errors) and exercises every function over the crate's static heap.

#[test]
fn c_program_passes_every_check() {
    assert_eq!(bareheap_interop_tests::run_c_abi_test(), 0, "failed C checks (see stderr)");
}
