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
