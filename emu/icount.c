/* A per-instruction counter for ia32k's reproducible mode.
 *
 * Unicorn's own emu_start(count=N) counts instructions but never says how
 * many ran when a hook stopped the run early, so the kernel installs this
 * C code hook instead (a Python hook per instruction would be ~100x slower).
 * It counts every instruction started and stops the CPU when the slice
 * runs out. Built by emu/icount.py with the machine's gcc. */
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
