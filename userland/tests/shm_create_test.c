/* shm_create and shm_lookup: every error row of docs/abi.md calls 10 and 11,
 * and that a failed call changes nothing (it takes no id). */
#include "ia32k.h"

int main(int arg)
{
    u32 st[6];
    CHECK_EQ(shm_create(0, 0, 0600), -EINVAL);
    CHECK_EQ(shm_create(0, (64 << 20) + 1, 0600), -EINVAL);
    CHECK_EQ(shm_create(0, 0xffffffffu, 0600), -EINVAL);
    CHECK_EQ(shm_create(0, 0x80000000u, 0600), -EINVAL);

    int a = shm_create(0x1234, 1, 0100644);      /* 1 byte: one page */
    CHECK(a >= 1);
    CHECK_EQ(shm_stat(a, st), 0);
    CHECK_EQ(st[0], 0x1234);
    CHECK_EQ(st[1], 4096);                       /* rounded up */
    CHECK_EQ(st[2], 0);                          /* owner: our uid */
    CHECK_EQ(st[3], 0644);                       /* mode & 0777 */
    CHECK_EQ(st[4], 0);
    CHECK_EQ(st[5], getpid());

    CHECK_EQ(shm_create(0x1234, 4096, 0600), -EEXIST);
    int b = shm_create(0, 64 << 20, 0600);       /* the largest size */
    CHECK_EQ(b, a + 1);                          /* the failures took no id */
    int c = shm_create(0, 4097, 0600);           /* key 0: private, again */
    CHECK_EQ(c, b + 1);
    CHECK_EQ(shm_stat(c, st), 0);
    CHECK_EQ(st[1], 8192);

    CHECK_EQ(shm_lookup(0x1234), a);
    CHECK_EQ(shm_lookup(0), -ENOENT);            /* private is never found */
    CHECK_EQ(shm_lookup(0x4321), -ENOENT);
    CHECK_EQ(shm_lookup(0xffffffffu), -ENOENT);

    CHECK_EQ(shm_destroy(a), 0);
    CHECK_EQ(shm_lookup(0x1234), -ENOENT);       /* the key is free at once */
    int d = shm_create(0x1234, 4096, 0600);
    CHECK_EQ(d, c + 1);                          /* ids are never reused */
    CHECK_EQ(shm_lookup(0x1234), d);
    CHECK_EQ(shm_destroy(b), 0);
    CHECK_EQ(shm_destroy(c), 0);
    CHECK_EQ(shm_destroy(d), 0);
    return 0;
}
