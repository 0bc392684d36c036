/* A semaphore and a condition variable between processes. Roles:
 *  1 producer and 2 consumer of a bounded buffer guarded by two counting
 *    semaphores (free slots, full slots): every item arrives, in order;
 *  3 and 4 two players taking turns through a mutex and a condition
 *    variable: each waits until the turn is its own, then hands it over.
 * arg 0 launches all four on a shm segment. */
#include "shared_arg.h"
#include "sync.h"

enum { LAUNCH, PRODUCER, CONSUMER, PLAYER0, PLAYER1 };
#define SLOTS 4
#define ITEMS 200
#define TURNS 50

struct semcond {
    sem_t free, full;
    volatile u32 slot[SLOTS];
    volatile u32 ready;                    /* semaphores initialized */
    mutex_t m;
    cond_t changed;
    volatile u32 turn, moves;
};

static void setup(struct semcond *s)
{
    sem_init(&s->free, SLOTS);
    sem_init(&s->full, 0);
    atomic_xchg(&s->ready, 1);   /* publishes the semaphores (locked) */
}

static int producer(struct semcond *s)
{
    setup(s);
    for (u32 i = 1; i <= ITEMS; i++) {
        sem_wait(&s->free);
        s->slot[i % SLOTS] = i * 7;
        sem_post(&s->full);
    }
    return 0;
}

static int consumer(struct semcond *s)
{
    while (!s->ready)
        yield();
    for (u32 i = 1; i <= ITEMS; i++) {
        sem_wait(&s->full);
        CHECK_EQ(s->slot[i % SLOTS], i * 7);
        sem_post(&s->free);
    }
    printf("sync_semcond: %d items through the semaphores\n", ITEMS);
    return 0;
}

static int player(struct semcond *s, u32 me)
{
    for (int i = 0; i < TURNS; i++) {
        mutex_lock(&s->m);
        while (s->turn != me)
            cond_wait(&s->changed, &s->m);
        s->moves++;
        s->turn = !me;
        cond_broadcast(&s->changed);
        mutex_unlock(&s->m);
    }
    if (me == 1) {
        CHECK_EQ(s->moves, 2 * TURNS);
        printf("sync_semcond: %u moves in turn\n", s->moves);
    }
    return 0;
}

static int run(struct semcond *s, int role)
{
    switch (role) {
    case PRODUCER: return producer(s);
    case CONSUMER: return consumer(s);
    case PLAYER0: return player(s, 0);
    case PLAYER1: return player(s, 1);
    }
    return 2;
}

int main(int arg)
{
    int id, status;
    if (arg != 0) {
        struct semcond *s = shared_area(arg);
        CHECK(s != 0);
        return run(s, ARG_ROLE(arg));
    }
    struct semcond *s = shared_create(4096, &id);
    if (!s)
        return 0;
    for (int role = CONSUMER; role <= PLAYER1; role++)
        CHECK(spawn("sync_semcond", SHARED_ARG(id, 0, role)) > 0);
    producer(s);
    while (wait(-1, &status) > 0)
        CHECK_EQ(status, 0);
    shared_release(s, id);
    return 0;
}
