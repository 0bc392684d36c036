/* arg threads (at most 64) of one process each add 1 to one shared word
   ROUNDS times with `lock xadd`; main joins them and exits 0 when no
   update was lost. With -arg threads the add is plain: a load, then a
   store, which another thread's add may fall between (a lost update);
   main prints the total and exits 0. */
#include "ia32k.h"
#include "sync.h"

#define MAX 64
#define ROUNDS 300
#define STACK 1024
static char stacks[MAX][STACK];
static volatile u32 total;

static int adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++)
        atomic_fetch_add(&total, 1);
    return 0;
}

static int plain_adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        u32 v = total;          /* the load ... */
        total = v + 1;          /* ... and the store: not one instruction */
    }
    return 0;
}

int main(int n)
{
    int tids[MAX];
    int plain = n < 0;
    if (plain)
        n = -n;
    CHECK(n > 0 && n <= MAX);
    for (int t = 0; t < n; t++) {
        tids[t] = thread_create(plain ? plain_adder : adder, 0, stacks[t],
                                STACK);
        CHECK(tids[t] > 0);
    }
    for (int t = 0; t < n; t++)
        CHECK_EQ(thread_join(tids[t], 0), 0);
    printf("threads_xadd: %d threads, total %u\n", n, total);
    return plain || total == (u32)n * ROUNDS ? 0 : 1;
}
