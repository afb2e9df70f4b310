/* A stand-alone C program over the bareheap-c staticlib (built and run by `cargo xtask test`).
 * Exit status: 0 pass, 1 failed checks, 77 skipped (the heap allocates nothing). */
#include <stdio.h>

#include "bareheap.h"

int bareheap_c_abi_test(void);

int main(void) {
    void *probe = bareheap_malloc(16);
    if (probe == NULL) {
        fprintf(stderr, "SKIPPED: the default heap allocates nothing\n");
        return 77;
    }
    bareheap_free(probe);
    int failures = bareheap_c_abi_test();
    printf("bareheap C ABI program: %d failed checks\n", failures);
    return failures == 0 ? 0 : 1;
}
