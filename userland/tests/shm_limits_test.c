/* Limits: 256 segments (then -ENOSPC), and the shm page quota (-ENOMEM)
 * that leaves at least 64 MiB to shared memory with 128 MiB of RAM. Failed
 * creates take nothing; destroying gives everything back. */
#include "ia32k.h"

#define MB (1u << 20)
#define MAX 256

static int ids[MAX];

static void segments(void)
{
    for (int i = 0; i < MAX; i++) {
        ids[i] = shm_create(0x10000 + i, 4096, 0600);
        CHECK_EQ(ids[i], ids[0] + i);
    }
    CHECK_EQ(shm_create(0, 4096, 0600), -ENOSPC);
    CHECK_EQ(shm_create(0x20000, 4096, 0600), -ENOSPC);
    CHECK_EQ(shm_lookup(0x20000), -ENOENT);    /* nothing half-made */
    CHECK_EQ(shm_create(0x10000, 4096, 0600), -EEXIST);  /* still checked first */
    CHECK_EQ(shm_destroy(ids[7]), 0);
    int again = shm_create(0, 4096, 0600);
    CHECK_EQ(again, ids[MAX - 1] + 1);         /* never a reused id */
    CHECK_EQ(shm_create(0, 4096, 0600), -ENOSPC);
    CHECK_EQ(shm_destroy(again), 0);
    for (int i = 0; i < MAX; i++)
        if (i != 7)
            CHECK_EQ(shm_destroy(ids[i]), 0);
}

static void quota(void)
{
    int big = shm_create(0, 64 * MB, 0600);    /* 64 MiB is always there */
    CHECK(big > 0);
    int n = 0, small[64];
    while (n < 64 && (small[n] = shm_create(0, 4 * MB, 0600)) > 0)
        n++;
    CHECK(n < 64);                             /* the quota ran out... */
    CHECK_EQ(small[n], -ENOMEM);               /* ...with -ENOMEM */
    CHECK(n >= 1);
    CHECK_EQ(shm_create(0, 64 * MB, 0600), -ENOMEM);
    CHECK_EQ(shm_destroy(big), 0);             /* gives its pages back */
    int big2 = shm_create(0, 64 * MB, 0600);
    CHECK(big2 > 0);
    CHECK_EQ(shm_destroy(big2), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ(shm_destroy(small[i]), 0);
    printf("quota: 64 MiB + %d x 4 MiB\n", n);
}

int main(int arg)
{
    segments();
    quota();
    return 0;
}
