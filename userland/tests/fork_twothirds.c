/* xv6 cowtest "simple": a process holding about two thirds of RAM forks.
   With an eager copy there is no room for the child; with copy-on-write
   only its directory and tables are new. Run at 8 MiB (tests/test_fork). */
#include "ia32k.h"

#define PAGES 1344                          /* 5.25 MiB of 7.9 MiB free */
static u32 big[PAGES][1024];

int main(int arg)
{
    for (int i = 0; i < PAGES; i++)
        big[i][i % 1024] = 0xC0DE0000 + i;  /* every page its own frame */
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < PAGES; i += 97)
            CHECK_EQ(big[i][i % 1024], 0xC0DE0000 + i);
        for (int i = 0; i < 8; i++)
            big[i][i % 1024] = 0xC41D;      /* eight copies */
        exit(0);
    }
    int st = -1;
    CHECK_EQ(wait(pid, &st), pid);
    CHECK_EQ(st, 0);
    for (int i = 0; i < PAGES; i++)
        CHECK_EQ(big[i][i % 1024], 0xC0DE0000 + i);
    printf("fork_twothirds: ok\n");
    return 0;
}
