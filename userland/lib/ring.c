/* The single-producer/single-consumer byte ring of sync.h.
 *
 * head and tail only grow (mod 2^32); head - tail bytes are queued. Each
 * side sleeps on its own event word, and the other side makes a system
 * call only when the sleeper has raised its flag: futex wake-ups happen
 * only when the ring went empty (consumer asleep) or full (producer
 * asleep). Flag-then-recheck on one side and publish-then-fence-then-read
 * on the other (both full fences) means no wake-up is ever lost. */
#include "sync.h"

#define RING_HEADER 64               /* data starts on a 64-byte boundary */

struct ring *ring_format(void *mem, u32 bytes)
{
    struct ring *r = mem;
    u32 size = 1;
    if (bytes < RING_HEADER + 4)
        return 0;
    while (size * 2 <= bytes - RING_HEADER)
        size *= 2;
    memset(r, 0, RING_HEADER);
    r->size = size;
    r->data_off = RING_HEADER;
    full_fence();
    r->magic = RING_MAGIC;           /* last: the ring is ready */
    return r;
}

struct ring *ring_open(void *mem)
{
    struct ring *r = mem;
    return r->magic == RING_MAGIC ? r : 0;
}

static u32 min_u32(u32 a, u32 b) { return a < b ? a : b; }

u32 ring_write(struct ring *r, const void *src, u32 n)
{
    u32 head = r->head;
    n = min_u32(n, r->size - (head - r->tail));
    u32 at = head & (r->size - 1), first = min_u32(n, r->size - at);
    char *data = PTR_AT(r, r->data_off);
    copy_fast(data + at, src, first);
    copy_fast(data, (const char *)src + first, n - first);
    compiler_barrier();              /* data before head (x86: in order) */
    r->head = head + n;
    return n;
}

u32 ring_read(struct ring *r, void *dst, u32 n)
{
    u32 tail = r->tail;
    n = min_u32(n, r->head - tail);
    u32 at = tail & (r->size - 1), first = min_u32(n, r->size - at);
    const char *data = PTR_AT(r, r->data_off);
    copy_fast(dst, data + at, first);
    copy_fast((char *)dst + first, data, n - first);
    compiler_barrier();
    r->tail = tail + n;
    return n;
}

/* Wake the other side if its flag says it sleeps (or is about to). */
static void ring_kick(struct ring *r, volatile u32 *flag, volatile u32 *ev)
{
    full_fence();                    /* our publish before reading the flag */
    if (*flag) {
        *flag = 0;
        atomic_fetch_add(ev, 1);
        futex_wake(ev, 1);
        atomic_fetch_add(&r->wakes_sent, 1);
    }
}

void ring_put(struct ring *r, const void *src, u32 n)
{
    while (n) {
        u32 k = ring_write(r, src, n);
        if (k) {
            src = (const char *)src + k;
            n -= k;
            ring_kick(r, &r->cons_sleeping, &r->data_ev);
            continue;
        }
        u32 ev = r->space_ev;
        atomic_xchg(&r->prod_sleeping, 1);
        if (r->head - r->tail == r->size) {
            r->prod_sleeps++;
            futex_wait(&r->space_ev, ev);
        }
        r->prod_sleeping = 0;
    }
}

u32 ring_get(struct ring *r, void *dst, u32 n)
{
    u32 got = 0;
    while (got < n) {
        u32 k = ring_read(r, (char *)dst + got, n - got);
        if (k) {
            got += k;
            ring_kick(r, &r->prod_sleeping, &r->space_ev);
            continue;
        }
        u32 ev = r->data_ev;
        atomic_xchg(&r->cons_sleeping, 1);
        u32 closed = r->closed;      /* before head: a close publishes all */
        if (r->head == r->tail) {
            if (closed)
                break;
            r->cons_sleeps++;
            futex_wait(&r->data_ev, ev);
        }
        r->cons_sleeping = 0;
    }
    return got;
}

void ring_close(struct ring *r)
{
    atomic_xchg(&r->closed, 1);
    atomic_fetch_add(&r->data_ev, 1);
    futex_wake(&r->data_ev, 1);
    atomic_fetch_add(&r->wakes_sent, 1);
}
