/* NWORKERS processes each add 1 to a shared counter ROUNDS times inside a
 * critical section with a deliberately wide window (read, spin, write).
 * Run with a small --quantum, preemption lands inside the window, so a
 * broken lock loses updates. The last worker to finish checks the total.
 * Roles: 1 futex mutex, 2 spinlock, 3 no lock at all (the control: it
 * loses updates and only reports them); arg 0 launches 1 and 2 on shm. */
#include "shared_arg.h"
#include "sync.h"

enum { LAUNCH, MUTEX, SPIN, NONE };
#define NWORKERS 3
#define ROUNDS 300
#define WINDOW 20

struct stress {
    mutex_t m;
    spinlock_t s;
    volatile u32 counter, done;
};

static void critical(struct stress *st)
{
    u32 v = st->counter;
    for (volatile int i = 0; i < WINDOW; i++)
        ;
    st->counter = v + 1;
}

static int worker(struct stress *st, int kind)
{
    for (int i = 0; i < ROUNDS; i++) {
        if (kind == MUTEX) {
            mutex_lock(&st->m);
            critical(st);
            mutex_unlock(&st->m);
        } else if (kind == SPIN) {
            spin_lock(&st->s);
            critical(st);
            spin_unlock(&st->s);
        } else {
            critical(st);
        }
    }
    if (atomic_fetch_add(&st->done, 1) == NWORKERS - 1) {
        static const char *names[] = { "", "mutex", "spinlock", "unlocked" };
        printf("sync_stress: %s counter %u\n", names[kind], st->counter);
        if (kind == NONE)
            return 0;
        CHECK_EQ(st->counter, NWORKERS * ROUNDS);
        CHECK_EQ(st->m.state, 0);
    }
    return 0;
}

static void launch_kind(int kind)
{
    int id, status;
    struct stress *st = shared_create(4096, &id);
    if (!st)
        return;
    for (int i = 1; i < NWORKERS; i++)
        CHECK(spawn("sync_stress", SHARED_ARG(id, 0, kind)) > 0);
    worker(st, kind);
    while (wait(-1, &status) > 0)
        CHECK_EQ(status, 0);
    shared_release(st, id);
}

int main(int arg)
{
    if (arg == 0) {
        launch_kind(MUTEX);
        launch_kind(SPIN);
        return 0;
    }
    struct stress *st = shared_area(arg);
    CHECK(st != 0);
    return worker(st, ARG_ROLE(arg));
}
