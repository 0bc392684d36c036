/* wait() semantics and exit statuses (docs/abi.md). arg 0: the checks. The
 * children, by arg: 10+k yields k times and exits k; 100 faults (null
 * write); 200 waits for a grandchild (13) and exits its status + 1; 300
 * spawns a grandchild (50) and exits at once with the grandchild's pid;
 * 1000+i exits with STATUS[i]; 2000 spawns "entry" with arg 77. */
#include "ia32k.h"

static const int STATUS[] = { -1, (int)0x80000000, 0x7FFFFFFF, 255, 256,
                              270, -35, 1 };
#define NSTATUS (int)(sizeof STATUS / sizeof STATUS[0])

static int child(int arg)
{
    int st = -1;
    if (arg >= 2000) {
        CHECK_EQ(wait(spawn("entry", 77), &st) > 0, 1);
        return st;
    }
    if (arg >= 1000)
        return STATUS[arg - 1000];
    if (arg == 300)
        return spawn("waits", 50);
    if (arg == 200) {
        int g = spawn("waits", 13);
        CHECK_EQ(wait(g, &st), g);
        return st + 1;
    }
    if (arg == 100)
        *(volatile int *)0 = 1;
    for (int i = 0; i < arg - 10; i++)
        yield();
    return arg - 10;
}

static int run(int arg)
{
    int st = -12345, pid = spawn("waits", arg);
    CHECK(pid > 0);
    CHECK_EQ(wait(pid, &st), pid);
    return st;
}

static void check_any_and_specific(void)
{
    int pid[3], st, seen = 0;
    for (int k = 0; k < 3; k++)
        pid[k] = spawn("waits", 10 + 2 * k);       /* exit 0, 2, 4 */
    for (int n = 0; n < 3; n++) {
        int p = wait(-1, &st);
        for (int k = 0; k < 3; k++)
            if (p == pid[k]) {
                CHECK_EQ(st, 2 * k);
                seen |= 1 << k;
            }
    }
    CHECK_EQ(seen, 7);
    int slow = spawn("waits", 15), fast = spawn("waits", 10);
    CHECK_EQ(wait(slow, &st), slow);               /* fast exits meanwhile */
    CHECK_EQ(st, 5);
    CHECK_EQ(wait(fast, &st), fast);               /* already a zombie */
    CHECK_EQ(st, 0);
}

int main(int arg)
{
    if (arg)
        return child(arg);
    for (int i = 0; i < NSTATUS; i++)
        CHECK_EQ(run(1000 + i), STATUS[i]);
    check_any_and_specific();
    CHECK_EQ(run(100), 270);                      /* a faulting child */
    CHECK_EQ(run(200), 4);                        /* waits for its own child */
    int orphan = run(300);                        /* its parent is gone */
    CHECK(orphan > 0);
    CHECK_EQ(wait(orphan, 0), -ECHILD);           /* not our child */
    CHECK_EQ(run(2000), 77);                      /* entry state, arg in EAX */
    CHECK_EQ(wait(-1, 0), -ECHILD);
    printf("waits: ok\n");
    return 0;
}
