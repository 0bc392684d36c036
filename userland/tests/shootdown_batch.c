/* One mprotect over many pages while a sibling thread runs on another CPU:
   one shootdown for the call, however many pages. arg: pages. */
#include "ia32k.h"
#include "sync.h"

static u32 big[256 * 1024] __attribute__((aligned(4096)));
static char stack[4096];
static volatile u32 started, stop, reads;

static int spinner(void *arg)
{
    (void)arg;
    started = 1;
    while (!stop) {
        reads += big[0];
        reads++;
    }
    return 0;
}

int main(int pages)
{
    for (int i = 0; i < pages; i++)
        big[i * 1024] = 1;               /* every page present */
    int t = thread_create(spinner, 0, stack, sizeof stack);
    while (!started || reads < 1000)
        cpu_relax();
    CHECK_EQ(mprotect(big, pages * 4096, PROT_READ), 0);
    stop = 1;
    CHECK_EQ(thread_join(t, 0), 0);
    return 0;
}
