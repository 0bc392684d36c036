/* shm_destroy: unknown, destroyed-but-attached (-EIDRM), the key freed at
 * once, attachments still working, stat answering with key 0. */
#include "ia32k.h"

int main(int arg)
{
    u32 st[6];
    CHECK_EQ(shm_destroy(0), -EINVAL);
    CHECK_EQ(shm_destroy(12345), -EINVAL);
    int id = shm_create(0x77, 4096, 0640);
    int *p = shm_attach(id, 0, 0);
    p[0] = 42;
    CHECK_EQ(shm_destroy(id), 0);
    CHECK_EQ(shm_destroy(id), -EIDRM);         /* still attached */
    CHECK_EQ(shm_lookup(0x77), -ENOENT);       /* key free at once */
    int id2 = shm_create(0x77, 4096, 0600);
    CHECK(id2 > id);
    CHECK_EQ(shm_lookup(0x77), id2);
    CHECK_EQ(p[0], 42);                        /* the old one still works */
    p[1] = 43;
    CHECK_EQ(shm_stat(id, st), 0);             /* and still answers */
    CHECK_EQ(st[0], 0);                        /* key 0 once destroyed */
    CHECK_EQ(st[1], 4096);
    CHECK_EQ(st[3], 0640);
    CHECK_EQ(st[4], 1);
    CHECK_EQ(shm_detach(p), 0);                /* the last detach frees it */
    CHECK_EQ(shm_stat(id, st), -EINVAL);
    CHECK_EQ(shm_destroy(id), -EINVAL);
    int *q = shm_attach(id2, 0, 0);
    CHECK_EQ(q[0], 0);                         /* the new one is fresh */
    CHECK_EQ(shm_destroy(id2), 0);
    return 0;                                  /* exit detaches q */
}
