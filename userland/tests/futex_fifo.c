/* Futexes between processes that see one physical word at different
 * addresses: sleepers wake oldest first; a wake with n = 0 wakes nobody;
 * a sleeper on the neighbouring word of the same page is never woken by
 * a wake on the first. Sleeper i yields DELAY(i) times first, so the
 * order they sleep in is not their pid order. The check takes the order
 * they log in for the order they sleep in, which holds unless a sleeper is
 * preempted in the few instructions between (tests run it with a --quantum
 * no slice reaches). Roles (shared_arg.h): 1 sleeper, 2 neighbour,
 * 3 waker; arg 0 launches all of them on a shm segment. */
#include "shared_arg.h"
#include "sync.h"

enum { LAUNCH, SLEEPER, NEIGHBOUR, WAKER };
#define NSLEEPERS 3
#define DELAY(i) (((i) + 2) % 3)           /* yields before sleeping: 2 0 1 */

struct fifo {
    volatile u32 word, neighbour;          /* two words of one page */
    volatile u32 arrived, woken, neighbour_arrived;
    volatile u32 arrival[NSLEEPERS], wake[NSLEEPERS];
};

static int sleeper(struct fifo *f, u32 delay)
{
    u32 me = getpid();
    while (delay--)                        /* arrive out of pid order */
        yield();
    /* No system call between logging the arrival and sleeping: a timer
     * preemption lands most often as a call returns, and one here would
     * let another sleeper overtake. */
    f->arrival[atomic_fetch_add(&f->arrived, 1)] = me;
    CHECK_EQ(futex_wait(&f->word, 0), 0);
    f->wake[atomic_fetch_add(&f->woken, 1)] = me;
    return 0;
}

static int neighbour(struct fifo *f)
{
    f->neighbour_arrived = 1;
    CHECK_EQ(futex_wait(&f->neighbour, 0), 0);
    return 0;
}

static int waker(struct fifo *f)
{
    int n;
    while (f->arrived < NSLEEPERS || !f->neighbour_arrived)
        yield();
    CHECK_EQ(futex_wake(&f->word, 0), 0);            /* n = 0: nobody */
    for (u32 k = 0; k < NSLEEPERS; k++) {
        while ((n = futex_wake(&f->word, 1)) == 0)
            yield();
        CHECK_EQ(n, 1);
        while (f->woken < k + 1)
            yield();
    }
    for (int k = 0; k < NSLEEPERS; k++)
        CHECK_EQ(f->wake[k], f->arrival[k]);         /* FIFO */
    CHECK_EQ(futex_wake(&f->word, 0xFFFFFFFFu), 0);  /* not the neighbour */
    CHECK_EQ(futex_wake(&f->neighbour, 5), 1);
    printf("futex_fifo: woke %u %u %u in order\n", f->wake[0], f->wake[1],
           f->wake[2]);
    return 0;
}

static int launch(void)
{
    int id, status;
    struct fifo *f = shared_create(4096, &id);
    if (!f)
        return 0;
    for (int i = 0; i < NSLEEPERS; i++)
        CHECK(spawn("futex_fifo", SHARED_ARG(id, DELAY(i), SLEEPER)) > 0);
    CHECK(spawn("futex_fifo", SHARED_ARG(id, 0, NEIGHBOUR)) > 0);
    waker(f);
    while (wait(-1, &status) > 0)
        CHECK_EQ(status, 0);
    shared_release(f, id);
    return 0;
}

int main(int arg)
{
    if (arg == 0)
        return launch();
    struct fifo *f = shared_area(arg);
    CHECK(f != 0);
    switch (ARG_ROLE(arg)) {
    case SLEEPER: return sleeper(f, ARG_PARAM(arg));
    case NEIGHBOUR: return neighbour(f);
    case WAKER: return waker(f);
    }
    return 2;
}
