/* Shared program text: 256 KiB of initialized read-only data plus code.
   64 of these hold one copy (tests/test_fork boots 64 at 8 MiB, where 64
   private copies, 16 MiB, could not fit). Each checks its table, writes
   its own initialized counter (a copy-on-write copy) and exits 0. */
#include "ia32k.h"

#define N 65536
static const u32 table[N] = {1, 2, 3, 4, 5, 6, 7, 8, [N - 1] = 0x7E57};
static u32 counter = 5;

int main(int arg)
{
    u32 sum = 0;
    for (int i = 0; i < N; i += 512)
        sum += table[i];
    CHECK_EQ(sum, 1);
    CHECK_EQ(table[N - 1], 0x7E57);
    CHECK_EQ(counter, 5);
    counter += getpid();
    yield();
    CHECK_EQ(counter, 5 + getpid());
    return 0;
}
