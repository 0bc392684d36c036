/* Synchronization for processes that share memory: atomics, a spinlock,
 * a futex mutex (the three-state design of Drepper's "Futexes are tricky"),
 * a counting semaphore, a condition variable, and a single-producer/
 * single-consumer byte ring that holds only offsets, so each process may
 * map it at a different address. Every object is plain memory: put it in a
 * shared segment and initialize it once, in one process. */
#ifndef IA32K_SYNC_H
#define IA32K_SYNC_H
#include "ia32k.h"

/* -- atomics (x86: a locked instruction is a full barrier) -------------- */
static inline u32 atomic_cas(volatile u32 *p, u32 old, u32 new)
{
    u32 prev;
    __asm__ volatile("lock cmpxchgl %2, %1"
                     : "=a"(prev), "+m"(*p) : "r"(new), "0"(old) : "memory");
    return prev;            /* the value seen: == old means it was swapped */
}

static inline u32 atomic_xchg(volatile u32 *p, u32 v)
{
    __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;               /* xchg with memory is always locked */
}

static inline u32 atomic_fetch_add(volatile u32 *p, u32 v)
{
    __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
}

static inline void compiler_barrier(void) { __asm__ volatile("" : : : "memory"); }
/* A full fence without SSE2: a locked no-op on the stack. */
static inline void full_fence(void) { __asm__ volatile("lock addl $0, (%%esp)" : : : "memory", "cc"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" : : : "memory"); }

/* -- spinlock: xchg to take, a plain store to release ------------------- */
typedef struct { volatile u32 locked; } spinlock_t;
#define SPINLOCK_INIT { 0 }
void spin_lock(spinlock_t *l);       /* spins a little, then yields */
int spin_trylock(spinlock_t *l);     /* 1 when taken (lock cmpxchg) */
void spin_unlock(spinlock_t *l);

/* -- mutex: 0 free, 1 locked, 2 locked and maybe waiters ----------------- */
typedef struct { volatile u32 state; } mutex_t;
#define MUTEX_INIT { 0 }
void mutex_lock(mutex_t *m);
int mutex_trylock(mutex_t *m);
void mutex_unlock(mutex_t *m);       /* futex_wake only from state 2 */

/* -- counting semaphore -------------------------------------------------- */
typedef struct { volatile u32 count; volatile u32 waiters; } sem_t;
void sem_init(sem_t *s, u32 value);
void sem_wait(sem_t *s);
int sem_trywait(sem_t *s);           /* 1 when decremented */
void sem_post(sem_t *s);             /* futex_wake only when someone waits */

/* -- condition variable (a sequence word) -------------------------------- */
typedef struct { volatile u32 seq; } cond_t;
#define COND_INIT { 0 }
void cond_wait(cond_t *c, mutex_t *m);   /* may wake spuriously: loop */
void cond_signal(cond_t *c);
void cond_broadcast(cond_t *c);

/* -- SPSC byte ring: header then data, located by offsets only ---------- */
#define RING_MAGIC 0x474e4952u   /* "RING" */
struct ring {
    u32 magic;
    u32 size;                /* data bytes, a power of two */
    u32 data_off;            /* data starts at (char *)ring + data_off */
    volatile u32 closed;     /* the producer will write no more */
    volatile u32 head;       /* bytes ever written: the producer's */
    volatile u32 tail;       /* bytes ever read: the consumer's */
    volatile u32 data_ev;    /* futex: the consumer sleeps here when empty */
    volatile u32 space_ev;   /* futex: the producer sleeps here when full */
    volatile u32 cons_sleeping;
    volatile u32 prod_sleeping;
    u32 cons_sleeps;         /* counters, each kept by its own side */
    u32 prod_sleeps;
    volatile u32 wakes_sent; /* futex_wake calls by both sides */
};

/* Format a ring in mem (bytes long); NULL when bytes leave no room. */
struct ring *ring_format(void *mem, u32 bytes);
/* The ring another process formatted at mem; NULL if none is there. */
struct ring *ring_open(void *mem);
/* Zero-copy: *n in = bytes wanted (>= 1), out = contiguous bytes granted
 * (>= 1: it blocks until there are some); write or read them in place, then
 * end with the count actually used. ring_read_begin returns NULL (*n = 0)
 * once the ring is closed and empty; both return NULL for *n = 0. */
void *ring_write_begin(struct ring *r, u32 *n);
void ring_write_end(struct ring *r, u32 n);
const void *ring_read_begin(struct ring *r, u32 *n);
void ring_read_end(struct ring *r, u32 n);
/* Copying: */
u32 ring_write(struct ring *r, const void *src, u32 n);  /* never blocks */
u32 ring_read(struct ring *r, void *dst, u32 n);         /* never blocks */
void ring_put(struct ring *r, const void *src, u32 n);   /* all n bytes */
u32 ring_get(struct ring *r, void *dst, u32 n);  /* n, or less at close */
void ring_close(struct ring *r);
static inline u32 ring_used(const struct ring *r) { return r->head - r->tail; }

/* Offsets instead of pointers inside shared memory. */
#define OFF_OF(base, p) ((u32)((const char *)(p) - (const char *)(base)))
#define PTR_AT(base, off) ((void *)((char *)(base) + (off)))

/* Fast copy: rep movsl then rep movsb. */
void copy_fast(void *dst, const void *src, u32 n);
#endif
