/*
 * bareheap.h - the C ABI of bareheap (crate `bareheap-c`).
 *
 * C and Rust code in one program share one bareheap heap. The functions below follow the
 * C17 / POSIX.1-2017 contracts of the standard functions they are named after; where those
 * leave a choice, the choice made is stated. All functions are thread- and interrupt-safe
 * as far as the heap's lock is (a spin lock, or a critical section with the crate's
 * `critical-section` feature). None of them sets errno (bare-metal C libraries may have none).
 *
 * On bare-metal targets the crate feature `unprefixed` also exports the standard names
 * (malloc, free, calloc, realloc, aligned_alloc, posix_memalign, malloc_usable_size), which
 * <stdlib.h> / <malloc.h> declare; the prefixed names are always exported.
 *
 * Heap: a static buffer of BAREHEAP_C_HEAP_SIZE bytes (an environment variable read when the
 * crate is built; default 16384), claimed on the first call. Each block carries a prefix of
 * two machine words (8 bytes on 32-bit, 16 on 64-bit targets) that records its size and
 * alignment, because free() is not told the size.
 */
#ifndef BAREHEAP_H
#define BAREHEAP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every block from bareheap_malloc/calloc/realloc is aligned to this (alignof(max_align_t)
 * on common ABIs: 8 on 32-bit, 16 on 64-bit targets). */
#define BAREHEAP_MIN_ALIGN (2 * sizeof(void *))

/* A block of at least `size` bytes, or NULL when the heap is exhausted.
 * bareheap_malloc(0) returns a unique pointer that must be freed. */
void *bareheap_malloc(size_t size);

/* Frees a block from any function below. NULL is ignored. A pointer that does not carry a
 * valid bareheap prefix (not from this heap, interior, already freed and overwritten) is
 * ignored and counted (bareheap_invalid_free_count); a double free that the heap detects is
 * ignored by the heap. */
void bareheap_free(void *ptr);

/* `nmemb * size` zeroed bytes, or NULL if the product overflows size_t or the heap is
 * exhausted. */
void *bareheap_calloc(size_t nmemb, size_t size);

/* Resizes a block, keeping min(old, new) bytes; the block may move.
 * - ptr == NULL: same as bareheap_malloc(size).
 * - size == 0 (ptr != NULL): frees ptr and returns NULL (the glibc choice; C17 leaves it
 *   implementation-defined, C23 makes it undefined).
 * - On failure: returns NULL and leaves ptr allocated and unchanged. */
void *bareheap_realloc(void *ptr, size_t size);

/* A block of `size` bytes aligned to `alignment`, or NULL when `alignment` is not a power
 * of two or the heap is exhausted. `size` need not be a multiple of `alignment` (C17 DR 460). */
void *bareheap_aligned_alloc(size_t alignment, size_t size);

/* POSIX: stores a block aligned to `alignment` in *memptr and returns 0; returns EINVAL (22)
 * when `alignment` is not a power of two multiple of sizeof(void *), ENOMEM (12) when the
 * heap is exhausted. *memptr is not modified on failure. */
int bareheap_posix_memalign(void **memptr, size_t alignment, size_t size);

/* The number of usable bytes of a block: the size it was requested with. 0 for NULL or an
 * invalid pointer. */
size_t bareheap_malloc_usable_size(void *ptr);

/* How many frees were refused because the pointer carried no valid prefix. */
size_t bareheap_invalid_free_count(void);

/* 0 when the heap's metadata is consistent; otherwise nonzero (a heap walk, see Heap::validate). */
int bareheap_validate(void);

#ifdef __cplusplus
}
#endif

#endif /* BAREHEAP_H */
