/* The offset-pointer library: a list built through one alias of a segment
 * and walked through another at a different address; base-relative
 * offsets; the arena's limits. */
#include "offptr.h"

struct node { int value; offptr next; shmoff self; };

int main(int arg)
{
    int id = shm_create(0, 8192, 0600);
    char *a = shm_attach(id, 0, 0);
    char *b = shm_attach(id, (void *)0x68000000, SHM_RDONLY);
    CHECK_EQ(b, 0x68000000);
    CHECK(arena_open(a) == 0);                 /* a fresh segment is zeros */
    struct shm_arena *arena = arena_init(a, 8192);
    offptr *link = &arena->root;
    for (int i = 1; i <= 100; i++) {
        struct node *n = arena_alloc(arena, sizeof *n);
        CHECK(n != 0);
        n->value = i;
        n->self = shm_off(a, n);
        offptr_set(link, n);
        link = &n->next;
    }
    struct shm_arena *seen = arena_open(b);
    CHECK(seen == (void *)b);
    int sum = 0, count = 0;
    for (struct node *n = arena_root(seen); n; n = OFFPTR_GET(struct node, n->next)) {
        CHECK((char *)n >= b && (char *)n < b + 8192);   /* stays in b */
        CHECK(shm_at(b, n->self) == n);
        sum += n->value;
        count++;
    }
    CHECK_EQ(count, 100);
    CHECK_EQ(sum, 5050);
    CHECK(shm_at(b, 0) == 0);
    CHECK_EQ(shm_off(a, 0), 0);
    CHECK(arena_alloc(arena, 8192) == 0);      /* too big: NULL, nothing used */
    u32 used = arena->used;
    CHECK(arena_alloc(arena, 8192 - used) != 0);
    CHECK(arena_alloc(arena, 1) == 0);
    CHECK_EQ(shm_destroy(id), 0);
    return 0;
}
