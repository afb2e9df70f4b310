//! Compiles the C side of the interop tests: the simulated kernel allocator and the C program
//! that calls bareheap-c through `include/bareheap.h` (warnings are errors, C11, pedantic).

fn main() {
    println!("cargo:rerun-if-changed=c");
    println!("cargo:rerun-if-changed=../bareheap-c/include/bareheap.h");
    cc::Build::new()
        .file("c/kmalloc_sim.c")
        .file("c/abi_test.c")
        .include("../bareheap-c/include")
        .std("c11")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .flag_if_supported("-pedantic")
        .warnings_into_errors(true)
        .compile("bareheap_interop_c");
}
