/* What happens to a futex sleeper whose segment is detached and destroyed
 * by the others while it sleeps (docs/ipc.md): it keeps sleeping, on the
 * same physical word, which its own attachment keeps alive.
 *  arg 0: the launcher attaches the segment twice, the sleeper sleeps,
 *         the launcher detaches one attachment and destroys the segment,
 *         then wakes the sleeper through its other attachment: it wakes
 *         with 0 and sees the word the launcher wrote.
 *  arg 3: the launcher detaches and destroys, then exits: nobody can reach
 *         the word any more, so the sleeper sleeps until the deadlock rule
 *         ends it with -35.
 * Needs shm (without it: prints a skip line and exits 0). */
#include "shared_arg.h"

enum { LAUNCH_WOKEN, SLEEPER, SLEEPER_ORPHAN, LAUNCH_ORPHAN };

struct word { volatile u32 w, arrived; };

static int sleeper(struct word *s, int orphan)
{
    s->arrived = 1;
    CHECK_EQ(futex_wait(&s->w, 0), 0);
    CHECK(!orphan);                        /* an orphan never wakes */
    CHECK_EQ(s->w, 7);
    return 0;
}

static int launch(int orphan)
{
    int id, status;
    struct word *a = shared_create(4096, &id);
    if (!a)
        return 0;
    struct word *b = shm_attach(id, 0, 0);
    CHECK(!is_err((int)b) && b != a);
    int child = spawn("futex_shm_detach",
                      SHARED_ARG(id, 0, orphan ? SLEEPER_ORPHAN : SLEEPER));
    CHECK(child > 0);
    while (!a->arrived)
        yield();
    yield();                               /* it is asleep now */
    CHECK_EQ(shm_detach(a), 0);
    CHECK_EQ(shm_destroy(id), 0);
    if (orphan) {
        CHECK_EQ(shm_detach(b), 0);
        return 0;                          /* leaves it alone, asleep */
    }
    CHECK_EQ(shm_attach(id, 0, 0), -EIDRM);
    b->w = 7;
    CHECK_EQ(futex_wake(&b->w, 1), 1);     /* through the other mapping */
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(status, 0);
    CHECK_EQ(shm_detach(b), 0);
    printf("futex_shm_detach: woken through the remaining attachment\n");
    return 0;
}

int main(int arg)
{
    if (arg == LAUNCH_WOKEN || arg == LAUNCH_ORPHAN)
        return launch(arg == LAUNCH_ORPHAN);
    struct word *s = shared_area(arg);
    CHECK(s != 0);
    return sleeper(s, ARG_ROLE(arg) == SLEEPER_ORPHAN);
}
