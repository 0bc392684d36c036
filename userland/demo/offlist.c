/* Demo: a linked list in shared memory, built with offset pointers.
 *
 * The parent builds the list in a segment it attaches where the kernel
 * chooses (0x40000000); its child attaches the same segment read-only at
 * 0x70000000 and walks it. The `next` fields are self-relative offptrs,
 * so the walk works at either address. (abslist.c is the same list with
 * absolute pointers, and fails.) */
#include "offptr.h"

#define KEY 0x0ff1157u
#define NODES 8
#define CHILD_BASE ((void *)0x70000000)

struct node { int value; offptr next; };

static int walk(struct shm_arena *a, const char *who)
{
    int sum = 0;
    for (struct node *n = arena_root(a); n; n = OFFPTR_GET(struct node, n->next)) {
        printf("  %s: node at %p value %d\n", who, n, n->value);
        sum += n->value;
    }
    return sum;
}

static int child(void)
{
    int id = shm_lookup(KEY);
    CHECK(id > 0);
    void *base = shm_attach(id, CHILD_BASE, SHM_RDONLY);
    CHECK(base == CHILD_BASE);
    struct shm_arena *a = arena_open(base);
    CHECK(a != 0);
    int sum = walk(a, "child ");
    printf("offlist child: walked the list at %p: sum %d\n", base, sum);
    return sum == 140 ? 0 : 1;          /* 0+1+4+...+49 */
}

int main(int arg)
{
    if (arg == 1)
        return child();
    int id = shm_create(KEY, 4096, 0600);
    CHECK(id > 0);
    void *base = shm_attach(id, 0, 0);
    CHECK(!is_err((int)base));
    struct shm_arena *a = arena_init(base, 4096);
    offptr *link = &a->root;
    for (int i = 0; i < NODES; i++) {
        struct node *n = arena_alloc(a, sizeof *n);
        n->value = i * i;
        offptr_set(link, n);
        link = &n->next;
    }
    printf("offlist parent: built %d nodes at %p\n", NODES, base);
    walk(a, "parent");
    int status = -1;
    wait(spawn("offlist", 1), &status);
    printf("offlist parent: child exited with status %d: %s\n", status,
           status == 0 ? "offset pointers work at any address" : "FAILED");
    CHECK_EQ(shm_detach(base), 0);
    CHECK_EQ(shm_destroy(id), 0);
    return status;
}
