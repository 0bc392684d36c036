/* shm_stat: unknown id, and buffers the caller may not write: unmapped,
 * kernel half, read-only attachment, read-only image, straddling. Nothing
 * is written when the call fails. */
#include "ia32k.h"

extern char _start[];

int main(int arg)
{
    u32 st[6];
    int id = shm_create(0x99, 4096, 0600);
    CHECK_EQ(shm_stat(0, st), -EINVAL);
    CHECK_EQ(shm_stat(777, st), -EINVAL);
    CHECK_EQ(shm_stat(777, 0), -EINVAL);       /* the id is checked first */
    CHECK_EQ(shm_stat(id, 0), -EFAULT);
    CHECK_EQ(shm_stat(id, (u32 *)0x50000000), -EFAULT);    /* unmapped */
    CHECK_EQ(shm_stat(id, (u32 *)0xc0001000), -EFAULT);    /* kernel half */
    CHECK_EQ(shm_stat(id, (u32 *)0xfffffff8), -EFAULT);    /* wraps */
    CHECK_EQ(shm_stat(id, (u32 *)_start), -EFAULT);        /* r-x image */

    u32 *rw = shm_attach(id, 0, 0);
    u32 *ro = shm_attach(id, 0, SHM_RDONLY);
    rw[0] = 0xdeadbeef;
    CHECK_EQ(shm_stat(id, ro), -EFAULT);       /* read-only, not yet present */
    CHECK_EQ(ro[0], 0xdeadbeef);               /* untouched; now present */
    CHECK_EQ(shm_stat(id, ro + 512), -EFAULT); /* through a PTE with R/W clear */
    CHECK_EQ(ro[512], 0);

    /* straddling: the last 8 bytes of rw's page, then nothing mapped */
    u32 *edge = rw + 1024 - 2;
    edge[0] = edge[1] = 0x5a5a5a5a;
    CHECK_EQ(shm_stat(id, edge), -EFAULT);
    CHECK_EQ(edge[0], 0x5a5a5a5a);             /* all or nothing */
    CHECK_EQ(edge[1], 0x5a5a5a5a);

    CHECK_EQ(shm_stat(id, rw + 4), 0);         /* into the segment itself */
    CHECK_EQ(rw[4], 0x99);
    CHECK_EQ(rw[5], 4096);
    CHECK_EQ(rw[8], 2);                        /* two attachments */
    CHECK_EQ(ro[8], 2);
    CHECK_EQ(shm_stat(id, st), 0);             /* into the stack */
    CHECK_EQ(st[5], getpid());
    CHECK_EQ(shm_destroy(id), 0);
    return 0;
}
