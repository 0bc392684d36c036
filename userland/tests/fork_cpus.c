/* Copy-on-write on two CPUs: the parent reads a private word in a loop
   (its translation cached on its CPU) while the child, on the other CPU,
   writes it; each then sees only its own value. */
#include "ia32k.h"

static volatile u32 word = 100;
static volatile u32 other[1024] = {1};

int main(int arg)
{
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (u32 i = 0; i < 2000; i++) {
            word = 200 + i;
            other[i % 1024] = i;
            CHECK_EQ(word, 200 + i);
        }
        exit(0);
    }
    u32 seen = 0;
    for (int i = 0; i < 20000; i++)
        seen |= word ^ 100;
    CHECK_EQ(seen, 0);
    word = 1;                          /* the parent's own break */
    int st = -1;
    CHECK_EQ(wait(pid, &st), pid);
    CHECK_EQ(st, 0);
    CHECK_EQ(word, 1);
    CHECK_EQ(other[5], 0);
    CHECK_EQ(other[0], 1);
    printf("fork_cpus: ok\n");
    return 0;
}
