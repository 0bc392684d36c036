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
    /* last, and locked: the ring is ready (xchg publishes it, and makes
     * it a synchronization word for ia32k --races) */
    atomic_xchg((volatile u32 *)&r->magic, RING_MAGIC);
    return r;
}

struct ring *ring_open(void *mem)
{
    struct ring *r = mem;
    return r->magic == RING_MAGIC ? r : 0;
}

static u32 min_u32(u32 a, u32 b) { return a < b ? a : b; }

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

/* Producer: sleep until the consumer frees space (or may have). */
static void ring_wait_space(struct ring *r)
{
    u32 ev = r->space_ev;
    atomic_xchg(&r->prod_sleeping, 1);
    if (r->head - r->tail == r->size) {
        r->prod_sleeps++;
        futex_wait(&r->space_ev, ev);   /* -EAGAIN: the consumer moved */
    }
    r->prod_sleeping = 0;
}

/* Consumer: sleep until data comes; 0 when the ring is closed and empty. */
static int ring_wait_data(struct ring *r)
{
    u32 ev = r->data_ev;
    atomic_xchg(&r->cons_sleeping, 1);
    u32 closed = r->closed;          /* before head: a close publishes all */
    int more = 1;
    if (r->head == r->tail) {
        if (closed) {
            more = 0;
        } else {
            r->cons_sleeps++;
            futex_wait(&r->data_ev, ev);
        }
    }
    r->cons_sleeping = 0;
    return more;
}

static void *ring_space_at(struct ring *r, u32 *n)
{
    u32 head = r->head, at = head & (r->size - 1);
    *n = min_u32(*n, min_u32(r->size - (head - r->tail), r->size - at));
    return PTR_AT(r, r->data_off + at);
}

static void *ring_data_at(struct ring *r, u32 *n)
{
    u32 tail = r->tail, at = tail & (r->size - 1);
    *n = min_u32(*n, min_u32(r->head - tail, r->size - at));
    return PTR_AT(r, r->data_off + at);
}

void *ring_write_begin(struct ring *r, u32 *n)
{
    u32 want = *n;
    while (want) {
        *n = want;
        void *p = ring_space_at(r, n);
        if (*n)
            return p;
        ring_wait_space(r);
    }
    return 0;
}

void ring_write_end(struct ring *r, u32 n)
{
    /* data before head; xchg publishes it (a plain store would be a data
     * race under ia32k --races: nothing orders it with the reader) */
    atomic_xchg(&r->head, r->head + n);
    ring_kick(r, &r->cons_sleeping, &r->data_ev);
}

const void *ring_read_begin(struct ring *r, u32 *n)
{
    u32 want = *n;
    while (want) {
        *n = want;
        const void *p = ring_data_at(r, n);
        if (*n)
            return p;
        if (!ring_wait_data(r))
            break;
    }
    *n = 0;
    return 0;
}

void ring_read_end(struct ring *r, u32 n)
{
    atomic_xchg(&r->tail, r->tail + n);  /* done reading: publish */
    ring_kick(r, &r->prod_sleeping, &r->space_ev);
}

u32 ring_write(struct ring *r, const void *src, u32 n)
{
    u32 done = 0;
    for (int part = 0; part < 2 && done < n; part++) {   /* may wrap once */
        u32 k = n - done;
        void *p = ring_space_at(r, &k);
        if (k == 0)
            break;
        copy_fast(p, (const char *)src + done, k);
        ring_write_end(r, k);
        done += k;
    }
    return done;
}

u32 ring_read(struct ring *r, void *dst, u32 n)
{
    u32 done = 0;
    for (int part = 0; part < 2 && done < n; part++) {
        u32 k = n - done;
        const void *p = ring_data_at(r, &k);
        if (k == 0)
            break;
        copy_fast((char *)dst + done, p, k);
        ring_read_end(r, k);
        done += k;
    }
    return done;
}

void ring_put(struct ring *r, const void *src, u32 n)
{
    while (n) {
        u32 k = n;
        void *p = ring_write_begin(r, &k);
        copy_fast(p, src, k);
        ring_write_end(r, k);
        src = (const char *)src + k;
        n -= k;
    }
}

u32 ring_get(struct ring *r, void *dst, u32 n)
{
    u32 got = 0;
    while (got < n) {
        u32 k = n - got;
        const void *p = ring_read_begin(r, &k);
        if (!p)
            break;
        copy_fast((char *)dst + got, p, k);
        ring_read_end(r, k);
        got += k;
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
