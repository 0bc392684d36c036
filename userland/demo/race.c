/* The race demo: two processes, ideally on two CPUs, each add 1 to one
 * shared counter K times. Run with several CPUs and a seed to replay one
 * interleaving exactly:
 *
 *     ia32k run --cpus 2 --seed 7 userland/demo/race.c
 *     ia32k race --seeds 0..49 --ignore-output userland/demo/race.c
 *
 * Mode "plain" increments with a separate load, add and store, so an
 * update made by the other CPU between the load and the store is lost.
 * "xadd" uses one `lock xadd`; "spinlock" and "mutex" guard the plain
 * increment with a lock: the total is then exact for every interleaving.
 * The parent (arg 0: every mode; 1..4: that mode) prints the totals. The
 * second child maps the segment at another address (0x60000000): one
 * physical counter, two virtual addresses (see `ia32k run --races`). */
#include "ia32k.h"
#include "sync.h"

#define K 5000
#define CHILD 0x100
#define SECOND 0x200                 /* the second child: attach elsewhere */
#define SECOND_VA ((void *)0x60000000)
enum { PLAIN = 1, XADD, SPIN, MUTEX, NMODES = MUTEX };
static const char *names[] = { "", "plain", "xadd", "spinlock", "mutex" };

struct shared {
    volatile u32 counter;
    spinlock_t spin;
    mutex_t mutex;
};

/* counter++ as three instructions: the other CPU may run between them. */
static void add_plain(volatile u32 *c)
{
    __asm__ volatile("mov (%0), %%eax\n\tinc %%eax\n\tmov %%eax, (%0)"
                     : : "r"(c) : "eax", "memory");
}

static int child(int mode, int id, int second)
{
    struct shared *s = shm_attach(id, second ? SECOND_VA : 0, 0);
    if (is_err((int)s))
        return 2;
    for (int i = 0; i < K; i++) {
        if (mode == PLAIN) {
            add_plain(&s->counter);
        } else if (mode == XADD) {
            atomic_fetch_add(&s->counter, 1);       /* lock xadd */
        } else if (mode == SPIN) {
            spin_lock(&s->spin);
            add_plain(&s->counter);
            spin_unlock(&s->spin);
        } else {
            mutex_lock(&s->mutex);
            add_plain(&s->counter);
            mutex_unlock(&s->mutex);
        }
    }
    return 0;
}

/* Run one mode: a fresh segment, two children, their total. */
static int run_mode(int mode)
{
    int id = shm_create(0, sizeof(struct shared), 0600);
    struct shared *s = shm_attach(id, 0, 0);
    CHECK(!is_err(id) && !is_err((int)s));
    int a = spawn("race", CHILD | (id << 4) | mode);
    int b = spawn("race", CHILD | SECOND | (id << 4) | mode);
    int sa = -1, sb = -1;
    CHECK_EQ(wait(a, &sa), a);
    CHECK_EQ(wait(b, &sb), b);
    CHECK(sa == 0 && sb == 0);
    u32 total = s->counter;
    printf("race %s: total %u of %u", names[mode], total, 2 * K);
    if (total != 2 * K)
        printf("  (%u updates lost)", 2 * K - total);
    printf("\n");
    shm_detach(s);
    shm_destroy(id);
    return mode == PLAIN || total == 2 * K ? 0 : 1;
}

int main(int arg)
{
    if (arg & CHILD)
        return child(arg & 15, (arg >> 4) & 15, arg & SECOND);
    if (arg)
        return run_mode(arg);
    int bad = 0;
    for (int m = 1; m <= NMODES; m++)
        bad |= run_mode(m);
    return bad;
}
