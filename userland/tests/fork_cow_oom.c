/* A copy-on-write fault that finds no free frame kills the writer with
   status 270, as a demand-zero fault does (docs/abi.md). Run at 4 MiB (tests/
   test_fork): the parent holds 600 pages, the child writes them all and
   runs out of frames part way; the parent's pages stay intact. */
#include "ia32k.h"

#define PAGES 600
static u32 big[PAGES][1024];

int main(int arg)
{
    for (int i = 0; i < PAGES; i++)
        big[i][0] = i;
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < PAGES; i++)
            big[i][0] = 0xDEAD;          /* 270 once no frame is left */
        exit(0);
    }
    int st = -1;
    CHECK_EQ(wait(pid, &st), pid);
    CHECK_EQ(st, 270);
    for (int i = 0; i < PAGES; i++)
        CHECK_EQ(big[i][0], i);
    printf("fork_cow_oom: ok\n");
    return 0;
}
