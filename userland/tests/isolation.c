/* Spawn every case of faults.s, each after the one before has died, and
 * check its exit status (docs/abi.md): a fault kills only that process, and
 * this one keeps running. Exits 0 when every status is right. */
#include "ia32k.h"

#define PF 270
#define GP 269
#define UD 262
#define DE 256

static const int expected[] = {
    PF, PF, PF, PF, PF,  GP, GP, GP, GP, GP,
    GP, GP, GP, GP, GP,  UD, UD, DE, DE, PF,
    GP, GP, GP, GP, GP,  GP, GP, GP, PF, DE,
    0, GP, UD, GP,
};

int main(int arg)
{
    int n = sizeof expected / sizeof expected[0];
    int pids[64];
    for (int i = 0; i < n; i++)
        pids[i] = spawn("faults", i);
    for (int i = 0; i < n; i++) {
        int status = -1;
        CHECK_EQ(wait(pids[i], &status), pids[i]);
        printf("case %d: pid %d status %d\n", i, pids[i], status);
        CHECK_EQ(status, expected[i]);
    }
    int status = -1;
    CHECK_EQ(wait(spawn("faults", n), &status) > 0, 1);
    CHECK_EQ(status, 99);
    printf("isolation: all %d cases ok\n", n);
    return 0;
}
