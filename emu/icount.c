/* A per-instruction counter for ia32k's reproducible mode.
 *
 * Unicorn's own emu_start(count=N) counts instructions but never says how
 * many ran when a hook stopped the run early, so the kernel installs this
 * C code hook instead (a Python hook per instruction would be ~100x slower).
 * It counts every instruction started and stops the CPU when the slice
 * runs out. Built by emu/icount.py with the machine's gcc. */
#include <stddef.h>
#include <stdint.h>

struct icount {
    uint64_t count;             /* instructions started so far */
    uint64_t limit;             /* stop before starting instruction #limit */
    int (*stop)(void *uc);      /* uc_emu_stop */
};

void icount_hook(void *uc, uint64_t address, uint32_t size, struct icount *c)
{
    (void)address;
    (void)size;
    if (c->count >= c->limit) {
        c->stop(uc);
        return;
    }
    c->count++;
}

/* The default mode's preemption, made synchronous: a host timer thread only
 * raises `pending`; this block hook, running on the emulating thread at the
 * start of a translated block, turns it into uc_emu_stop. A stop issued
 * from another thread at an arbitrary moment is thereby never needed. */
struct preempt {
    volatile int pending;
    int (*stop)(void *uc);
};

void preempt_hook(void *uc, uint64_t address, uint32_t size, struct preempt *p)
{
    (void)address;
    (void)size;
    if (p->pending) {
        p->pending = 0;
        p->stop(uc);
    }
}

/* The debugger's watchpoints: a memory hook arms `armed` during the access;
 * this code hook, on every instruction while a watchpoint exists, stops the
 * CPU before the next instruction starts, so the accessing instruction has
 * completed and is not repeated. The instruction it stops before was
 * counted by icount_hook (installed earlier): take it off again. */
struct stop_next {
    volatile int armed;
    int (*stop)(void *uc);
    uint64_t *count;            /* the icount counter, or NULL */
};

void stop_next_hook(void *uc, uint64_t address, uint32_t size,
                    struct stop_next *s)
{
    (void)address;
    (void)size;
    if (s->armed) {
        s->armed = 0;
        if (s->count)
            (*s->count)--;
        s->stop(uc);
    }
}

/* The iret guard (docs/abi.md: an iret at CPL 3 never enters vm86 mode).
 * QEMU's iret helper enters virtual-8086 mode whenever the popped EFLAGS
 * has VM set, skipping the SDM's CPL test, and no hook sees an iret. So
 * this edge hook, called by Unicorn whenever it has just translated a new
 * block (before the block runs), looks at the block's last byte: 0xCF ends
 * every iret. Then it stops the CPU before the block runs and the kernel
 * puts a code hook on that iret (emu/machine.py IretGuard). Cost: one
 * virtual read per translated block; nothing per executed block. */
struct uc_tb_view { uint64_t pc; uint16_t icount; uint16_t size; };

struct iretguard {
    int pending;                /* a block ending in 0xCF was translated */
    uint64_t pc;                /* its address and size */
    uint32_t size;
    int (*stop)(void *uc);
    int (*vmem_read)(void *uc, uint64_t va, int prot, void *out, size_t n);
};

void iret_edge_hook(void *uc, struct uc_tb_view *cur, struct uc_tb_view *prev,
                    struct iretguard *g)
{
    unsigned char last;
    (void)prev;
    if (!cur->size || g->vmem_read(uc, cur->pc + cur->size - 1, 4 /* EXEC */,
                                   &last, 1) != 0 || last != 0xCF)
        return;
    g->pending = 1;
    g->pc = cur->pc;
    g->size = cur->size;
    g->stop(uc);
}

/* The fetch-side record of translated code: this edge hook, called by
 * Unicorn whenever it has just translated a new block, sets one bit per
 * virtual page the block's bytes lie in (a block may cross a page). The
 * kernel reads the bitmap to know which pages this CPU may hold translated
 * code for, and clears it when the CPU drops all its code. */
struct code_pages {
    uint8_t *bits;              /* 1 << 20 bits, one per 4 KiB page */
};

void code_pages_hook(void *uc, struct uc_tb_view *cur,
                     struct uc_tb_view *prev, struct code_pages *c)
{
    uint32_t first = (uint32_t)cur->pc >> 12;
    uint32_t last = (uint32_t)(cur->pc + (cur->size ? cur->size - 1 : 0)) >> 12;
    (void)uc;
    (void)prev;
    c->bits[first >> 3] |= (uint8_t)(1u << (first & 7));
    c->bits[last >> 3] |= (uint8_t)(1u << (last & 7));
}
