/* Offset pointers: pointers that stay valid inside a shared memory segment
 * that different processes attach at different virtual addresses.
 *
 * An absolute pointer stored in a segment names an address in the process
 * that wrote it; in a process that attached the segment elsewhere it points
 * at something else (or at nothing: a page fault). Two cures:
 *
 *   offptr   self-relative: the field holds (target - &field), 0 = null.
 *            Works wherever the segment sits, with no base needed, as long
 *            as field and target are in the same segment.
 *   shmoff   base-relative: the byte offset from the segment's start,
 *            0 = null (offset 0 is the arena header, never an object).
 *
 * shm_arena is a bump allocator at the start of a segment whose root object
 * is reached through an offptr, so a second process finds everything from
 * its own attach address. */
#ifndef IA32K_OFFPTR_H
#define IA32K_OFFPTR_H
#include "ia32k.h"

typedef int offptr;
typedef u32 shmoff;

void offptr_set(offptr *field, const void *target);
void *offptr_get(const offptr *field);
#define OFFPTR_GET(type, field) ((type *)offptr_get(&(field)))

static inline shmoff shm_off(const void *base, const void *p)
{
    return p ? (shmoff)((const char *)p - (const char *)base) : 0;
}

static inline void *shm_at(const void *base, shmoff off)
{
    return off ? (void *)((const char *)base + off) : (void *)0;
}

#define SHM_ARENA_MAGIC 0x4f464641u        /* "AFFO" */

struct shm_arena {
    u32 magic;
    u32 size;          /* bytes of the segment */
    u32 used;          /* bytes handed out, header included */
    offptr root;       /* the first object, for whoever attaches next */
};

struct shm_arena *arena_init(void *base, u32 size);
struct shm_arena *arena_open(void *base);
void *arena_alloc(struct shm_arena *a, u32 n);
void arena_set_root(struct shm_arena *a, void *obj);
void *arena_root(struct shm_arena *a);
#endif
