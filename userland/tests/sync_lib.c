// expect: with sync_asm
// expect: exit 0 0
// expect: stdout sync_lib: ok
// expect: modes check
/* The sync library within one process: every lock's uncontended paths and
 * state words, and the ring's arithmetic (wrap-around, full, empty, close). */
#include "sync.h"

static char area[4096 + 64];
static char src[10000], dst[10000];

static void test_atomics(void)
{
    volatile u32 w = 5;
    CHECK_EQ(atomic_cas(&w, 4, 9), 5);    /* no swap: returns what it saw */
    CHECK_EQ(w, 5);
    CHECK_EQ(atomic_cas(&w, 5, 9), 5);
    CHECK_EQ(w, 9);
    CHECK_EQ(atomic_xchg(&w, 1), 9);
    CHECK_EQ(atomic_fetch_add(&w, (u32)-1), 1);
    CHECK_EQ(w, 0);
}

static void test_locks(void)
{
    spinlock_t s = SPINLOCK_INIT;
    spin_lock(&s);
    CHECK_EQ(s.locked, 1);
    CHECK(!spin_trylock(&s));
    spin_unlock(&s);
    CHECK(spin_trylock(&s));
    spin_unlock(&s);

    mutex_t m = MUTEX_INIT;
    mutex_lock(&m);
    CHECK_EQ(m.state, 1);                 /* uncontended: no waiters */
    CHECK(!mutex_trylock(&m));
    mutex_unlock(&m);
    CHECK_EQ(m.state, 0);
    m.state = 2;                          /* as if someone had slept */
    mutex_unlock(&m);                     /* takes the futex_wake path */
    CHECK_EQ(m.state, 0);
    CHECK_EQ(futex_wake(&m.state, 1), 0); /* nobody was there */
}

static void test_sem_cond(void)
{
    sem_t s;
    sem_init(&s, 2);
    sem_wait(&s);
    sem_wait(&s);
    CHECK(!sem_trywait(&s));
    sem_post(&s);
    CHECK_EQ(s.count, 1);
    CHECK(sem_trywait(&s));

    cond_t c = COND_INIT;
    cond_signal(&c);
    cond_broadcast(&c);
    CHECK_EQ(c.seq, 2);
}

static void test_ring(void)
{
    CHECK(ring_format(area, 60) == 0);
    struct ring *r = ring_format(area, sizeof area);
    CHECK(r != 0 && ring_open(area) == r);
    CHECK_EQ(r->size, 4096);
    CHECK_EQ(r->data_off % 64, 0);
    for (int i = 0; i < (int)sizeof src; i++)
        src[i] = (char)(i * 7 + 3);
    CHECK_EQ(ring_read(r, dst, 10), 0);               /* empty */
    CHECK_EQ(ring_write(r, src, 10000), 4096);        /* full */
    CHECK_EQ(ring_write(r, src, 1), 0);
    CHECK_EQ(ring_read(r, dst, 3000), 3000);
    CHECK_EQ(ring_write(r, src + 4096, 3000), 3000);  /* wraps */
    CHECK_EQ(ring_used(r), 4096);
    CHECK_EQ(ring_read(r, dst + 3000, 7000), 4096);
    CHECK(memcmp(dst, src, 7096) == 0);
    /* head and tail keep growing past 2^32 without harm */
    r->head = r->tail = 0xFFFFFFF0u;
    ring_put(r, src, 100);
    CHECK_EQ(ring_get(r, dst, 100), 100);
    CHECK(memcmp(dst, src, 100) == 0);
    ring_put(r, src, 5);
    ring_close(r);
    CHECK_EQ(ring_get(r, dst, 100), 5);               /* the rest, then EOF */
    CHECK_EQ(ring_get(r, dst, 100), 0);
    CHECK_EQ(r->cons_sleeps + r->prod_sleeps, 0);
}

static void test_ring_zero_copy(void)
{
    struct ring *r = ring_format(area, sizeof area);
    u32 n = 5000;
    char *w = ring_write_begin(r, &n);
    CHECK_EQ(n, 4096);                                /* all there is */
    CHECK(w == (char *)r + r->data_off);
    memcpy(w, "abc", 3);
    ring_write_end(r, 3);
    n = 10;
    w = ring_write_begin(r, &n);
    CHECK_EQ(n, 10);
    CHECK(w == (char *)r + r->data_off + 3);
    n = 0;
    CHECK(ring_write_begin(r, &n) == 0);
    n = 100;
    const char *p = ring_read_begin(r, &n);
    CHECK_EQ(n, 3);
    CHECK(memcmp(p, "abc", 3) == 0);
    ring_read_end(r, 2);
    CHECK_EQ(ring_used(r), 1);
    r->head = r->tail = 4090;                         /* wrap: contiguous part */
    n = 100;
    w = ring_write_begin(r, &n);
    CHECK_EQ(n, 6);
    ring_write_end(r, 6);
    ring_close(r);
    n = 100;
    CHECK(ring_read_begin(r, &n) != 0 && n == 6);
    ring_read_end(r, 6);
    n = 100;
    CHECK(ring_read_begin(r, &n) == 0 && n == 0);     /* closed and empty */
}

int main(int arg)
{
    test_atomics();
    test_locks();
    test_sem_cond();
    test_ring();
    test_ring_zero_copy();
    printf("sync_lib: ok\n");
    return 0;
}
