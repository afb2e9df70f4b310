/*
 * The C side of bareheap-c's host test: exercises every function of include/bareheap.h the
 * way C code would, and returns the number of failed checks (0 = pass).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bareheap.h"

static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "abi_test.c:%d: check failed: %s\n", __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static int aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

static void test_malloc_free(void) {
    char *p = bareheap_malloc(100);
    CHECK(p != NULL);
    CHECK(aligned(p, BAREHEAP_MIN_ALIGN));
    memset(p, 0xAB, 100);
    CHECK(bareheap_malloc_usable_size(p) >= 100);
    bareheap_free(p);
    bareheap_free(NULL);

    void *z1 = bareheap_malloc(0);
    void *z2 = bareheap_malloc(0);
    CHECK(z1 != NULL && z2 != NULL && z1 != z2);
    bareheap_free(z1);
    bareheap_free(z2);

    CHECK(bareheap_malloc((size_t)-1) == NULL);
    CHECK(bareheap_malloc((size_t)-1 / 2) == NULL);
}

static void test_calloc(void) {
    unsigned char *p = bareheap_calloc(25, 4);
    CHECK(p != NULL);
    int zero = 1;
    for (int i = 0; i < 100; i++) {
        zero &= p[i] == 0;
    }
    CHECK(zero);
    bareheap_free(p);
    CHECK(bareheap_calloc((size_t)-1 / 2, 3) == NULL); /* overflow */
    CHECK(bareheap_calloc(SIZE_MAX, SIZE_MAX) == NULL);
}

static void test_realloc(void) {
    char *p = bareheap_realloc(NULL, 16); /* realloc(NULL, n) == malloc(n) */
    CHECK(p != NULL);
    memcpy(p, "0123456789abcdef", 16);
    char *q = bareheap_realloc(p, 1000);
    CHECK(q != NULL);
    CHECK(q != NULL && memcmp(q, "0123456789abcdef", 16) == 0);
    char *r = bareheap_realloc(q, 4);
    CHECK(r != NULL && memcmp(r, "0123", 4) == 0);
    /* Failure leaves the block untouched. */
    CHECK(bareheap_realloc(r, (size_t)-1 / 2) == NULL);
    CHECK(memcmp(r, "0123", 4) == 0);
    /* Size 0 frees and returns NULL. */
    CHECK(bareheap_realloc(r, 0) == NULL);
}

static void test_aligned(void) {
    for (size_t a = 1; a <= 1024; a *= 2) {
        void *p = bareheap_aligned_alloc(a, 24);
        CHECK(p != NULL && aligned(p, a));
        void *q = bareheap_realloc(p, 500);
        CHECK(q != NULL && aligned(q, a));
        bareheap_free(q);
    }
    CHECK(bareheap_aligned_alloc(3, 16) == NULL);
    CHECK(bareheap_aligned_alloc(0, 16) == NULL);

    void *m = (void *)0x1;
    CHECK(bareheap_posix_memalign(&m, 3, 16) == 22);      /* EINVAL */
    CHECK(bareheap_posix_memalign(&m, 2, 16) == 22);      /* not a multiple of sizeof(void *) */
    CHECK(m == (void *)0x1);                              /* untouched on failure */
    CHECK(bareheap_posix_memalign(&m, 64, (size_t)-1 / 2) == 12); /* ENOMEM */
    CHECK(m == (void *)0x1);
    CHECK(bareheap_posix_memalign(&m, 64, 40) == 0);
    CHECK(m != NULL && aligned(m, 64));
    bareheap_free(m);
}

static void test_invalid_frees(void) {
    size_t before = bareheap_invalid_free_count();
    uint64_t stack[8] = {0};
    bareheap_free(&stack[4]);                 /* not from the heap */
    char *p = bareheap_malloc(64);
    CHECK(p != NULL);
    memset(p, 0, 64);
    bareheap_free(p + 32);                    /* interior */
    bareheap_free(p + 1);                     /* misaligned */
    CHECK(bareheap_invalid_free_count() == before + 3);
    bareheap_free(p);
    CHECK(bareheap_invalid_free_count() == before + 3);
}

static void test_exhaustion_and_reuse(void) {
    /* Fill the heap with 256-byte blocks, free them, and do it again: the same count fits. */
    enum { MAX = 4096 };
    static void *blocks[MAX];
    int n = 0;
    while (n < MAX && (blocks[n] = bareheap_malloc(256)) != NULL) {
        memset(blocks[n], n & 0xff, 256);
        n++;
    }
    CHECK(n > 0 && n < MAX);
    for (int i = 0; i < n; i++) {
        const unsigned char *b = blocks[i];
        CHECK(b[0] == (i & 0xff) && b[255] == (i & 0xff));
        bareheap_free(blocks[i]);
    }
    int m = 0;
    while (m < MAX && (blocks[m] = bareheap_malloc(256)) != NULL) {
        m++;
    }
    CHECK(m == n);
    for (int i = 0; i < m; i++) {
        bareheap_free(blocks[i]);
    }
}

int bareheap_c_abi_test(void) {
    failures = 0;
    test_malloc_free();
    test_calloc();
    test_realloc();
    test_aligned();
    test_invalid_frees();
    test_exhaustion_and_reuse();
    CHECK(bareheap_validate() == 0);
    return failures;
}
