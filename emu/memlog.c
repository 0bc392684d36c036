/* The race detector's eyes: a memory hook that logs guest accesses to
 * watched physical frames.
 *
 * Unicorn calls a UC_HOOK_MEM_READ/WRITE hook with the *physical* address
 * of the first byte once paging is on, once per access, even for an access
 * that straddles two pages (whose second frame need not follow the first).
 * This hook keeps accesses that start in a watched frame (one byte per
 * 4 KiB frame in `watch`, set by the kernel for frames that several address
 * spaces may map) and every access that straddles two pages, and appends
 * (eip, pa, size | write << 8) to a buffer of fixed capacity. The kernel
 * drains it at its events and at the end of every slice. The hook calls
 * `full` (a Python callback that drains it) when the buffer is full, so it
 * never holds more than `cap` records whatever the guest does, and right
 * after a straddling access, so the kernel finds its second frame while
 * the page tables are those the access went through. A Python hook
 * per access would cost ~100x more. Built by emu/memlog.py with the
 * machine's gcc. */
#include <stdint.h>

#define UC_MEM_WRITE 17
#define FRAME_SHIFT 12
#define FRAME_MASK 0xFFFu

struct memlog {
    uint8_t *watch;             /* watch[frame]: nonzero when logged */
    uint32_t nframes;
    uint32_t n;                 /* records in buf */
    uint32_t cap;               /* records buf can hold */
    uint32_t *buf;              /* 3 u32 per record */
    int (*reg_read)(void *uc, int regid, void *value);   /* uc_reg_read */
    int eip_id;                 /* UC_X86_REG_EIP */
    uint32_t dropped;           /* records lost: full() left no room */
    void (*full)(void);         /* drains buf (sets n to 0) */
};

static int watched(const struct memlog *m, uint64_t frame)
{
    return frame < m->nframes && m->watch[frame];
}

void memlog_hook(void *uc, int type, uint64_t address, int size,
                 int64_t value, struct memlog *m)
{
    (void)value;
    int straddles = (address & FRAME_MASK) + (uint64_t)size > FRAME_MASK + 1;
    if (!straddles && !watched(m, address >> FRAME_SHIFT))
        return;
    if (m->n == m->cap && m->full)
        m->full();
    if (m->n == m->cap) {
        m->dropped++;
        return;
    }
    uint32_t eip = 0, *rec = m->buf + 3 * m->n++;
    m->reg_read(uc, m->eip_id, &eip);
    rec[0] = eip;
    rec[1] = (uint32_t)address;
    rec[2] = (uint32_t)size | (type == UC_MEM_WRITE ? 1u << 8 : 0);
    if (straddles && m->full)
        m->full();
}
