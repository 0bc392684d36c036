/* A race that only a rare schedule exposes (tests/test_racefind.py, and
 * `make bench`'s PCT-vs-random figure).
 *
 * The writer publishes `ready` one step too early: it sets the flag, works
 * out the value (a short window of W iterations), then stores `data`. The
 * reader waits for the flag, then first processes a table of its own (L
 * iterations) and only then reads `data`. The reader sees a stale value
 * only when two things happen: the writer is preempted inside its short
 * window, AND the reader then runs its whole table uninterrupted (otherwise
 * the writer catches up and stores `data` first). A bug of depth 2.
 *
 * Random slice lengths rarely give both at once (a boundary in the window,
 * then one slice longer than the reader's work); PCT needs only one change
 * point in the window: the processes otherwise run without interruption.
 *
 *     ia32k race --cpus 1 --quantum 200 --seeds 0..199 rare_race.c
 *     ia32k race --cpus 1 --quantum 200 --seeds 0..199 --schedule pct \
 *         rare_race.c
 *
 * The parent prints "stale read" (exit 1) or "ok" (exit 0). */
#include "ia32k.h"

#define W 12            /* the writer's window: iterations */
#define L 64            /* the reader's work before it reads: iterations */
#define VALUE 42

struct shared {
    volatile u32 ready;
    volatile u32 data;
    volatile u32 seen;              /* what the reader read */
};

static u32 work(u32 n)
{
    volatile u32 acc = 0;
    for (u32 i = 0; i < n; i++)
        acc += i;
    return acc;
}

static int writer(struct shared *s)
{
    s->ready = 1;                   /* the bug: published before the data */
    u32 v = work(W) * 0 + VALUE;
    s->data = v;
    return 0;
}

static int reader(struct shared *s)
{
    while (!s->ready)
        yield();
    work(L);                        /* its own work, before the data */
    s->seen = s->data;
    return s->seen == VALUE ? 0 : 1;
}

int main(int arg)
{
    if (arg) {
        struct shared *s = shm_attach(arg >> 4, 0, 0);
        if (is_err((int)s))
            return 2;
        return (arg & 15) == 1 ? writer(s) : reader(s);
    }
    int id = shm_create(0, sizeof(struct shared), 0600);
    CHECK(!is_err(id));
    int r = spawn("rare_race", (id << 4) | 2);
    int w = spawn("rare_race", (id << 4) | 1);
    int sr = -1, sw = -1;
    CHECK_EQ(wait(w, &sw), w);
    CHECK_EQ(wait(r, &sr), r);
    printf(sr ? "stale read\n" : "ok\n");
    shm_destroy(id);
    return sr ? 1 : 0;
}
