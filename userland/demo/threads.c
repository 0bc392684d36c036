// Threads of one process sum one array together: each thread adds up its
// own slice, then adds its partial sum to the shared total with one
// `lock xadd`; main joins them all and prints the sum. Run it on two
// CPUs (`ia32k run --cpus 2 userland/demo/threads.c`): the threads run at
// the same time, over one address space and one set of page tables.
// expect: exit 0
// expect: stdout threads: 4 threads summed 65536 numbers: 2147450880 (expected 2147450880)\n
#include "ia32k.h"
#include "sync.h"

#define N 65536
#define NTHREADS 4
#define STACK 4096

static u32 numbers[N];
static volatile u32 total;
static char stacks[NTHREADS][STACK];
struct slice { u32 first, count; int tid; };
static struct slice slices[NTHREADS];

static int sum_slice(void *arg)
{
    struct slice *s = arg;
    u32 sum = 0;
    for (u32 i = s->first; i < s->first + s->count; i++)
        sum += numbers[i];
    atomic_fetch_add(&total, sum);
    s->tid = gettid();
    return 0;
}

int main(int arg)
{
    (void)arg;
    for (u32 i = 0; i < N; i++)
        numbers[i] = i;
    int tids[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        slices[t].first = t * (N / NTHREADS);
        slices[t].count = N / NTHREADS;
        tids[t] = thread_create(sum_slice, &slices[t], stacks[t], STACK);
        CHECK(tids[t] > 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        int status = -1;
        CHECK_EQ(thread_join(tids[t], &status), 0);
        CHECK_EQ(status, 0);
        CHECK_EQ(slices[t].tid, tids[t]);
    }
    u32 expected = (u32)N * (N - 1) / 2;
    printf("threads: %d threads summed %d numbers: %u (expected %u)\n",
           NTHREADS, N, total, expected);
    return total == expected ? 0 : 1;
}
