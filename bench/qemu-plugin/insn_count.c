/*
 * insn_count: a QEMU TCG plugin that counts the guest instructions executed
 * between marker stores.
 *
 * The guest owns a small block of marker words at a fixed address (passed as
 * `marker=0x...`). A store to word k (k = 1..15) opens a measurement of kind k;
 * a store to word 0 closes it. Every closed measurement is written to the file
 * `out=PATH` as one line: "<kind> <instructions> <open-pc> <close-pc>", where
 * <instructions> counts every instruction executed after the opening store up
 * to and including the closing store, and the PCs are the addresses of the two
 * store instructions (for cross-checking against QEMU's own execution log). The last line is "total <instructions>", all instructions the
 * guest executed. Malformed marker sequences (open while open, close while
 * closed) are written as "error ..." lines so the caller can refuse the run.
 *
 * Counting is exact: an inline add runs before every guest instruction (no
 * sampling, no per-block estimate), and the run is deterministic as long as the
 * guest takes no asynchronous interrupts.
 *
 * Debian ships QEMU 7.2 without qemu-plugin.h, so the few API v1 declarations
 * this file needs are written out below; they match QEMU 7.2's ABI
 * (QEMU_PLUGIN_VERSION 1).
 *
 * Build: gcc -shared -fPIC -O2 -o libinsn_count.so insn_count.c
 * Use:   qemu-system-arm ... -plugin libinsn_count.so,marker=0x2000ff00,out=counts.txt
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API v1 (QEMU 7.2), the subset used here ---- */

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

enum qemu_plugin_mem_rw {
    QEMU_PLUGIN_MEM_R = 1,
    QEMU_PLUGIN_MEM_W,
    QEMU_PLUGIN_MEM_RW,
};

enum qemu_plugin_op {
    QEMU_PLUGIN_INLINE_ADD_U64,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id,
                                               struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index,
                                          qemu_plugin_meminfo_t info,
                                          uint64_t vaddr, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           qemu_plugin_vcpu_tb_trans_cb_t cb);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb,
                                                 size_t idx);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn,
                                      qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags,
                                      enum qemu_plugin_mem_rw rw,
                                      void *userdata);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
                                    qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* ---- the counter ---- */

#define MARKER_WORDS 16

/* Instructions executed so far (single vCPU: the lm3s6965evb has one core). */
static uint64_t insn_count;
static uint64_t marker_base;
static FILE *out;
static int open_kind; /* 0: no measurement open */
static uint64_t open_at;
static uint64_t open_pc;
static uint64_t closed;
static uint64_t errors;

static void on_store(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                     uint64_t vaddr, void *userdata)
{
    (void)vcpu_index;
    /* The store instruction's address, attached when the block was translated. */
    uint64_t pc = (uint64_t)(uintptr_t)userdata;
    if (!qemu_plugin_mem_is_store(info) || vaddr < marker_base ||
        vaddr >= marker_base + 4 * MARKER_WORDS) {
        return;
    }
    /* insn_count already includes the marker store itself. */
    int word = (int)((vaddr - marker_base) / 4);
    if (word == 0) {
        if (open_kind == 0) {
            fprintf(out, "error close-without-open at instruction %" PRIu64 "\n", insn_count);
            errors++;
            return;
        }
        fprintf(out, "%d %" PRIu64 " %#" PRIx64 " %#" PRIx64 "\n", open_kind,
                insn_count - open_at, open_pc, pc);
        open_kind = 0;
        closed++;
    } else {
        if (open_kind != 0) {
            fprintf(out, "error open-while-open (kind %d) at instruction %" PRIu64 "\n", word,
                    insn_count);
            errors++;
        }
        open_kind = word;
        open_at = insn_count;
        open_pc = pc;
    }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                   &insn_count, 1);
        void *pc = (void *)(uintptr_t)qemu_plugin_insn_vaddr(insn);
        qemu_plugin_register_vcpu_mem_cb(insn, on_store, QEMU_PLUGIN_CB_NO_REGS,
                                         QEMU_PLUGIN_MEM_W, pc);
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    char line[160];
    if (open_kind != 0) {
        fprintf(out, "error still-open (kind %d) at exit\n", open_kind);
        errors++;
    }
    fprintf(out, "total %" PRIu64 "\n", insn_count);
    fclose(out);
    snprintf(line, sizeof line,
             "insn_count: %" PRIu64 " measurements, %" PRIu64 " errors, %" PRIu64
             " instructions in total\n",
             closed, errors, insn_count);
    qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    const char *path = NULL;
    bool have_marker = false;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "marker=", 7) == 0) {
            char *end;
            marker_base = strtoull(argv[i] + 7, &end, 0);
            have_marker = *end == '\0';
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else {
            fprintf(stderr, "insn_count: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!have_marker || path == NULL) {
        fprintf(stderr, "insn_count: needs marker=ADDRESS and out=PATH\n");
        return -1;
    }
    if (info->system_emulation && info->system.max_vcpus != 1) {
        fprintf(stderr, "insn_count: counts one vCPU only\n");
        return -1;
    }
    out = fopen(path, "w");
    if (out == NULL) {
        perror("insn_count: cannot open output");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
