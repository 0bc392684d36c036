/* Offset pointers and a bump arena for shared memory (see offptr.h). */
#include "offptr.h"

void offptr_set(offptr *field, const void *target)
{
    *field = target ? (int)((const char *)target - (const char *)field) : 0;
}

void *offptr_get(const offptr *field)
{
    return *field ? (void *)((const char *)field + *field) : (void *)0;
}

/* Lay an empty arena over the segment at base; returns it. */
struct shm_arena *arena_init(void *base, u32 size)
{
    struct shm_arena *a = base;
    a->magic = SHM_ARENA_MAGIC;
    a->size = size;
    a->used = sizeof *a;
    a->root = 0;
    return a;
}

/* The arena another process laid at base, or NULL if there is none. */
struct shm_arena *arena_open(void *base)
{
    struct shm_arena *a = base;
    return a->magic == SHM_ARENA_MAGIC ? a : (struct shm_arena *)0;
}

/* n bytes, 4-aligned and zeroed, or NULL when the segment is full. */
void *arena_alloc(struct shm_arena *a, u32 n)
{
    n = (n + 3) & ~3u;
    if (n > a->size - a->used)
        return (void *)0;
    char *p = (char *)a + a->used;
    a->used += n;
    return memset(p, 0, n);
}

void arena_set_root(struct shm_arena *a, void *obj) { offptr_set(&a->root, obj); }
void *arena_root(struct shm_arena *a) { return offptr_get(&a->root); }
