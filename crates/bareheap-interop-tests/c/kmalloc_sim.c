/*
 * A simulated kernel allocator for host tests of bareheap's Foreign heap.
 *
 * Like kmalloc on many architectures it guarantees only 8-byte alignment, and it makes the
 * most of that: every pointer it returns is 8 mod 16, so a caller that silently relies on
 * 16-byte alignment fails. It records the flags word of each call, can be told to fail
 * (failure injection), checks every kfree against its list of live blocks (a free of anything
 * else is counted, not performed), and puts a canary after each block that sim_check() and
 * sim_kfree() verify.
 *
 * Not thread-safe: the Rust tests serialise their use of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MAGIC 0x6b6d616c6c6f6321ull /* "kmalloc!" */
#define SIM_CANARY 0xca11ab1efee1deadull

struct sim_hdr {
    uint64_t magic;
    size_t size;
    struct sim_hdr *prev;
    struct sim_hdr *next;
};

static struct sim_hdr *sim_live_list;
static size_t sim_live_count;
static unsigned sim_last_flags_value;
static size_t sim_calls;
static long sim_fail_after_count = -1;
static size_t sim_bad_frees_count;

/* malloc() returns 16-aligned memory on the hosts we test on; the header starts 8 bytes in,
 * so the block after the 32-byte header is 8 mod 16. */
static char *sim_block(struct sim_hdr *h) { return (char *)(h + 1); }

void *sim_kmalloc(size_t size, unsigned flags) {
    sim_calls++;
    sim_last_flags_value = flags;
    if (sim_fail_after_count == 0) {
        return NULL;
    }
    if (sim_fail_after_count > 0) {
        sim_fail_after_count--;
    }
    if (size > ((size_t)1 << 30)) {
        return NULL; /* like kmalloc: large requests fail rather than wrap */
    }
    char *raw = malloc(8 + sizeof(struct sim_hdr) + size + sizeof(uint64_t));
    if (raw == NULL) {
        return NULL;
    }
    struct sim_hdr *h = (struct sim_hdr *)(raw + 8);
    h->magic = SIM_MAGIC;
    h->size = size;
    h->prev = NULL;
    h->next = sim_live_list;
    if (sim_live_list != NULL) {
        sim_live_list->prev = h;
    }
    sim_live_list = h;
    sim_live_count++;
    uint64_t canary = SIM_CANARY;
    memcpy(sim_block(h) + size, &canary, sizeof canary);
    return sim_block(h);
}

static int sim_owns(struct sim_hdr *want) {
    for (struct sim_hdr *h = sim_live_list; h != NULL; h = h->next) {
        if (h == want) {
            return 1;
        }
    }
    return 0;
}

void sim_kfree(void *p) {
    if (p == NULL) {
        return;
    }
    struct sim_hdr *h = (struct sim_hdr *)p - 1;
    if (!sim_owns(h) || h->magic != SIM_MAGIC) {
        sim_bad_frees_count++;
        return;
    }
    if (h->prev != NULL) {
        h->prev->next = h->next;
    } else {
        sim_live_list = h->next;
    }
    if (h->next != NULL) {
        h->next->prev = h->prev;
    }
    sim_live_count--;
    h->magic = 0;
    free((char *)h - 8);
}

/* Number of live blocks whose header or canary is damaged. */
size_t sim_check(void) {
    size_t bad = 0;
    for (struct sim_hdr *h = sim_live_list; h != NULL; h = h->next) {
        uint64_t canary;
        memcpy(&canary, sim_block(h) + h->size, sizeof canary);
        if (h->magic != SIM_MAGIC || canary != SIM_CANARY) {
            bad++;
        }
    }
    return bad;
}

size_t sim_live(void) { return sim_live_count; }
unsigned sim_last_flags(void) { return sim_last_flags_value; }
size_t sim_call_count(void) { return sim_calls; }
size_t sim_bad_frees(void) { return sim_bad_frees_count; }
/* -1: never fail; n >= 0: fail once n more allocations have succeeded. */
void sim_fail_after(long n) { sim_fail_after_count = n; }
