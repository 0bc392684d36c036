/* The process table: at least 256 processes alive at once (docs/abi.md), then
 * -EAGAIN; reaping one frees a slot; pids keep counting up, never reused.
 * arg 0: the check; arg 1: a child that exits at once (a zombie until
 * reaped, and a zombie still holds its slot). */
#include "ia32k.h"

int main(int arg)
{
    if (arg)
        return 0;
    int n = 0, first = 0, last = 0, r, st;
    while ((r = spawn("nproc", 1)) > 0) {
        if (!first)
            first = r;
        CHECK_EQ(r, first + n);
        last = r;
        n++;
    }
    CHECK_EQ(r, -EAGAIN);
    CHECK(n >= 255);
    CHECK_EQ(spawn("nproc", 1), -EAGAIN);
    CHECK_EQ(wait(first, &st), first);
    CHECK_EQ(spawn("nproc", 1), last + 1);        /* pid first is not reused */
    CHECK_EQ(spawn("nproc", 1), -EAGAIN);
    for (int i = 0; i < n; i++) {
        st = -1;
        CHECK(wait(-1, &st) > first);
        CHECK_EQ(st, 0);
    }
    CHECK_EQ(wait(-1, 0), -ECHILD);
    printf("nproc: %d children alive at once\n", n);
    return 0;
}
