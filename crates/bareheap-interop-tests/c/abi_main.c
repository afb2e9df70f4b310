/* A stand-alone C program over the bareheap-c staticlib (built and run by `cargo xtask test`).
 * Exit status: 0 pass, 1 failed checks. */
#include <stdio.h>

int bareheap_c_abi_test(void);

int main(void) {
    int failures = bareheap_c_abi_test();
    printf("bareheap C ABI program: %d failed checks\n", failures);
    return failures == 0 ? 0 : 1;
}
