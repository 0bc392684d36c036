/* A process dies holding a futex mutex while others sleep on it: nothing
 * can wake them, so when every live process is blocked the kernel ends
 * them with -35 (EDEADLK) and says each sleeps on a futex. Roles: 1 the
 * holder (takes the lock, waits for the others to sleep, then faults),
 * 2 a waiter. Needs premapped memory or shm (arg 0: exits 0). */
#include "shared_arg.h"
#include "sync.h"

enum { LAUNCH, HOLDER, WAITER };
#define NWAITERS 2

struct owner { mutex_t m; volatile u32 queued; volatile u32 held; };

int main(int arg)
{
    if (arg == 0)
        return 0;                          /* nothing to show alone */
    struct owner *o = shared_area(arg);
    CHECK(o != 0);
    if (ARG_ROLE(arg) == WAITER) {
        while (!o->held)                   /* the holder locks first */
            yield();
        atomic_fetch_add(&o->queued, 1);
        mutex_lock(&o->m);                 /* never returns */
        return 3;
    }
    mutex_lock(&o->m);
    o->held = 1;
    while (o->queued < NWAITERS || o->m.state != 2)
        yield();
    *(volatile int *)0 = 0;                /* dies holding the lock */
    return 4;
}
