/*
 * The C half of the c_interop firmware: plain C that allocates with malloc, calloc, realloc,
 * aligned_alloc and free, which the Rust half of the same program exports over the heap its
 * own Vec and Box use. Every function checks what it can and returns 0 on success, or a
 * non-zero code naming the failed check.
 *
 * Built for thumbv7m-none-eabi by firmware/build.rs with the `cc` crate (freestanding: no C
 * library, so the allocator functions are declared here).
 */
#include <stddef.h>
#include <stdint.h>

void *malloc(size_t size);
void *calloc(size_t nmemb, size_t size);
void *realloc(void *ptr, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
void free(void *ptr);

/* A singly linked list, each node with a name of its own: many small blocks. */
struct node {
    struct node *next;
    uint32_t value;
    char *name;
};

static uint32_t value_of(uint32_t i) { return i * 2654435761u; }

static size_t name_len(uint32_t i) { return 1 + (value_of(i) >> 27); /* 1..32 bytes */ }

/* Builds a list of n nodes (node i holds value_of(i) and a name of name_len(i) bytes, all
 * 'a' + i % 26); NULL on allocation failure (after freeing what was built). */
struct node *c_list_build(uint32_t n)
{
    struct node *head = NULL;
    for (uint32_t k = n; k > 0; k--) {
        uint32_t i = k - 1;
        struct node *nd = malloc(sizeof *nd);
        if (nd == NULL)
            goto fail;
        nd->name = malloc(name_len(i));
        if (nd->name == NULL) {
            free(nd);
            goto fail;
        }
        for (size_t j = 0; j < name_len(i); j++)
            nd->name[j] = (char)('a' + i % 26);
        nd->value = value_of(i);
        nd->next = head;
        head = nd;
    }
    return head;
fail:
    while (head != NULL) {
        struct node *next = head->next;
        free(head->name);
        free(head);
        head = next;
    }
    return NULL;
}

/* 0 if the list holds exactly nodes 0..n-1 with their values and names. */
int c_list_check(const struct node *head, uint32_t n)
{
    uint32_t i = 0;
    for (; head != NULL; head = head->next, i++) {
        if (i >= n || head->value != value_of(i))
            return 1;
        for (size_t j = 0; j < name_len(i); j++)
            if (head->name[j] != (char)('a' + i % 26))
                return 2;
    }
    return i == n ? 0 : 3;
}

void c_list_free(struct node *head)
{
    while (head != NULL) {
        struct node *next = head->next;
        free(head->name);
        free(head);
        head = next;
    }
}

/* calloc must zero, realloc must keep the contents while growing and shrinking, and
 * aligned_alloc must align. Leaves nothing allocated. */
int c_calloc_realloc_aligned(void)
{
    uint32_t *a = calloc(48, sizeof *a);
    if (a == NULL)
        return 10;
    for (int i = 0; i < 48; i++)
        if (a[i] != 0)
            return 11;
    for (int i = 0; i < 48; i++)
        a[i] = value_of((uint32_t)i);
    uint32_t *b = realloc(a, 400 * sizeof *b); /* from the slab's largest class to FirstFit */
    if (b == NULL)
        return 12;
    for (int i = 0; i < 48; i++)
        if (b[i] != value_of((uint32_t)i))
            return 13;
    uint32_t *c = realloc(b, 8 * sizeof *c);
    if (c == NULL)
        return 14;
    for (int i = 0; i < 8; i++)
        if (c[i] != value_of((uint32_t)i))
            return 15;
    free(c);
    for (size_t align = 8; align <= 256; align *= 2) {
        unsigned char *p = aligned_alloc(align, 3 * align);
        if (p == NULL || ((uintptr_t)p & (align - 1)) != 0)
            return 16;
        for (size_t j = 0; j < 3 * align; j++)
            p[j] = (unsigned char)j;
        free(p);
    }
    if (aligned_alloc(3, 16) != NULL) /* not a power of two: refused */
        return 17;
    free(NULL); /* a no-op */
    return 0;
}

/* A string for the Rust side to check and free with free(). */
char *c_strdup_hello(void)
{
    static const char text[] = "hello from C";
    char *s = malloc(sizeof text);
    if (s != NULL)
        for (size_t i = 0; i < sizeof text; i++)
            s[i] = text[i];
    return s;
}
