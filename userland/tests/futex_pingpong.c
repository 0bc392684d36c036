/* Two processes hand a turn word back and forth with futexes only: each
 * hop is one futex_wake by the giver and one futex_wait that puts it to
 * sleep, so the other runs. Roles 1 and 2 (shared_arg.h), param = rounds
 * / 16 (0: 100 rounds); arg 0 launches both on a shm segment. Used by
 * tools/bench/ipc.py for the futex wake-to-run latency. */
#include "shared_arg.h"
#include "sync.h"

enum { LAUNCH, PING, PONG };

struct turn { volatile u32 t, hops; };

static int play(struct turn *s, u32 me, u32 rounds)
{
    u32 other = me == PING ? PONG : PING, v;
    for (u32 i = 0; i < rounds; i++) {
        while ((v = s->t) != me && !(me == PING && v == 0))   /* PING first */
            futex_wait(&s->t, v);
        s->hops++;
        s->t = other;
        futex_wake(&s->t, 1);
    }
    if (me == PONG) {
        CHECK_EQ(s->hops, 2 * rounds);
        printf("futex_pingpong: %u hops\n", s->hops);
    }
    return 0;
}

static u32 rounds_of(int arg)
{
    u32 r = ARG_PARAM(arg) * 16;
    return r ? r : 100;
}

int main(int arg)
{
    int id, status;
    if (arg != 0) {
        struct turn *s = shared_area(arg);
        CHECK(s != 0);
        return play(s, ARG_ROLE(arg), rounds_of(arg));
    }
    struct turn *s = shared_create(4096, &id);
    if (!s)
        return 0;
    int child = spawn("futex_pingpong", SHARED_ARG(id, 0, PONG));
    CHECK(child > 0);
    play(s, PING, rounds_of(0));
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(status, 0);
    shared_release(s, id);
    return 0;
}
