/* Locks, a semaphore, a condition variable and the SPSC ring (sync.h). */
#include "sync.h"

#define SPIN_TRIES 64

void copy_fast(void *dst, const void *src, u32 n)
{
    u32 words = n >> 2, bytes = n & 3;
    __asm__ volatile("rep movsl\n\tmovl %3, %%ecx\n\trep movsb"
                     : "+D"(dst), "+S"(src), "+c"(words)
                     : "r"(bytes) : "memory");
}

/* -- spinlock ------------------------------------------------------------ */
void spin_lock(spinlock_t *l)
{
    while (atomic_xchg(&l->locked, 1)) {
        int spins = 0;
        while (l->locked) {           /* read-only spin: no locked bus ops */
            if (++spins < SPIN_TRIES) {
                cpu_relax();
            } else {
                yield();              /* one CPU: let the holder run */
                spins = 0;
            }
        }
    }
}

int spin_trylock(spinlock_t *l) { return atomic_cas(&l->locked, 0, 1) == 0; }

void spin_unlock(spinlock_t *l)
{
    compiler_barrier();               /* x86 stores are release stores */
    l->locked = 0;
}

/* -- mutex (Drepper, "Futexes are tricky", mutex #3) --------------------- */
void mutex_lock(mutex_t *m)
{
    u32 c = atomic_cas(&m->state, 0, 1);
    if (c == 0)
        return;                       /* uncontended: no system call */
    if (c != 2)
        c = atomic_xchg(&m->state, 2);
    while (c != 0) {
        futex_wait(&m->state, 2);     /* -EAGAIN if it changed: retry */
        c = atomic_xchg(&m->state, 2);
    }
}

int mutex_trylock(mutex_t *m) { return atomic_cas(&m->state, 0, 1) == 0; }

void mutex_unlock(mutex_t *m)
{
    if (atomic_fetch_add(&m->state, (u32)-1) != 1) {
        m->state = 0;                 /* was 2: someone may sleep */
        futex_wake(&m->state, 1);
    }
}

/* -- semaphore ------------------------------------------------------------- */
void sem_init(sem_t *s, u32 value)
{
    s->count = value;
    s->waiters = 0;
}

int sem_trywait(sem_t *s)
{
    u32 c;
    while ((c = s->count) > 0)
        if (atomic_cas(&s->count, c, c - 1) == c)
            return 1;
    return 0;
}

void sem_wait(sem_t *s)
{
    while (!sem_trywait(s)) {
        atomic_fetch_add(&s->waiters, 1);     /* locked: ordered before */
        futex_wait(&s->count, 0);             /* the kernel's compare */
        atomic_fetch_add(&s->waiters, (u32)-1);
    }
}

void sem_post(sem_t *s)
{
    atomic_fetch_add(&s->count, 1);           /* locked: a full fence */
    if (s->waiters)
        futex_wake(&s->count, 1);
}

/* -- condition variable ------------------------------------------------------ */
void cond_wait(cond_t *c, mutex_t *m)
{
    u32 seq = c->seq;
    mutex_unlock(m);
    futex_wait(&c->seq, seq);                 /* -EAGAIN: a signal came */
    while (atomic_xchg(&m->state, 2) != 0)    /* others may wait: state 2 */
        futex_wait(&m->state, 2);
}

void cond_signal(cond_t *c)
{
    atomic_fetch_add(&c->seq, 1);
    futex_wake(&c->seq, 1);
}

void cond_broadcast(cond_t *c)
{
    atomic_fetch_add(&c->seq, 1);
    futex_wake(&c->seq, 0xFFFFFFFFu);
}
