/* Demo: the same linked list as offlist.c, but with absolute pointers.
 *
 * The parent builds it in a segment attached at 0x40000000 and spawns two
 * children that attach it at 0x70000000 and walk it:
 *   child 1 has nothing at 0x40000000: the first `next` it follows is an
 *           address of the parent's, unmapped here, and the CPU kills it
 *           with a page fault (status 270);
 *   child 2 has a different segment at 0x40000000 (all zeros): the walk
 *           "succeeds" and reads the wrong data (exit status 1).
 * The parent reports which happened to each. */
#include "ia32k.h"

#define KEY 0x0ab5115u
#define NODES 8
#define CHILD_BASE ((void *)0x70000000)
#define WRONG_DATA 1

struct node { int value; struct node *next; };
struct head { struct node *first; int expected; };

static int child(int decoy)
{
    int id = shm_lookup(KEY);
    CHECK(id > 0);
    struct head *h = shm_attach(id, CHILD_BASE, SHM_RDONLY);
    CHECK(h == CHILD_BASE);
    if (decoy) {                         /* something else where the parent had the list */
        int other = shm_create(0, 4096, 0600);
        CHECK(shm_attach(other, (void *)((u32)h->first & ~0xfffu), 0) != 0);
        shm_destroy(other);
    }
    printf("abslist child %d: list at %p, first node pointer %p\n", decoy + 1,
           h, h->first);
    int sum = 0;
    for (struct node *n = h->first; n; n = n->next)
        sum += n->value;
    printf("abslist child %d: sum %d, expected %d\n", decoy + 1, sum, h->expected);
    return sum == h->expected ? 0 : WRONG_DATA;
}

static int build(void)
{
    int id = shm_create(KEY, 4096, 0600);
    CHECK(id > 0);
    struct head *h = shm_attach(id, 0, 0);
    CHECK(!is_err((int)h));
    struct node *nodes = (struct node *)(h + 1);
    for (int i = 0; i < NODES; i++) {
        nodes[i].value = i * i;
        nodes[i].next = i + 1 < NODES ? &nodes[i + 1] : 0;
        h->expected += i * i;
    }
    h->first = &nodes[0];
    printf("abslist parent: built %d nodes at %p with absolute pointers\n",
           NODES, h);
    return id;
}

static const char *verdict(int status)
{
    if (status == 270)
        return "killed by a page fault: the pointer named the parent's address";
    if (status == WRONG_DATA)
        return "read the wrong data: the pointer named someone else's memory";
    return status == 0 ? "walked correctly (unexpected!)" : "failed otherwise";
}

int main(int arg)
{
    if (arg)
        return child(arg - 1);
    int id = build(), failures = 0;
    for (int c = 1; c <= 2; c++) {
        int status = -1;
        wait(spawn("abslist", c), &status);
        printf("abslist parent: child %d exited with status %d: %s\n", c,
               status, verdict(status));
        failures += status != 0;
    }
    CHECK_EQ(shm_destroy(id), 0);
    return failures == 2 ? 0 : 1;   /* the demo succeeds when both broke */
}
