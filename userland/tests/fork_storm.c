/* fork-fork-fork: a tree of depth 4 (each node forks two children),
   every node writing its own marks into shared-then-copied pages and its
   stack, checking them after its children end. Exits 0 only if all did. */
#include "ia32k.h"

static u32 data[4][1024];

static int node(int depth, u32 id)
{
    u32 local[64];
    for (int i = 0; i < 64; i++)
        local[i] = id * 64 + i;
    data[depth % 4][id % 1024] = id;
    int kids[2], st, bad = 0;
    for (int k = 0; k < 2 && depth < 4; k++) {
        kids[k] = fork();
        CHECK(kids[k] >= 0);
        if (kids[k] == 0)
            exit(node(depth + 1, id * 2 + k + 1));
    }
    for (int k = 0; k < 2 && depth < 4; k++) {
        CHECK_EQ(wait(kids[k], &st), kids[k]);
        bad |= st;
    }
    for (int i = 0; i < 64; i++)
        bad |= local[i] != id * 64 + i;
    bad |= data[depth % 4][id % 1024] != id;
    return bad;
}

int main(int arg)
{
    int bad = node(0, 0);
    printf("fork_storm: %s\n", bad ? "BAD" : "ok");
    return bad;
}
