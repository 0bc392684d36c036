/* shm_detach: double detach, mid-range, not an attachment, and that the
 * range is free again afterwards. */
#include "ia32k.h"

int main(int arg)
{
    int id = shm_create(0, 3 * 4096, 0600);
    char *p = shm_attach(id, 0, 0);
    CHECK(!is_err((int)p));
    p[0] = 1;
    CHECK_EQ(shm_detach(p + 4096), -EINVAL);   /* mid-range */
    CHECK_EQ(shm_detach(p + 1), -EINVAL);
    CHECK_EQ(shm_detach(0), -EINVAL);
    CHECK_EQ(shm_detach((void *)0x400000), -EINVAL);       /* the image */
    CHECK_EQ(shm_detach((void *)0xbfff0000), -EINVAL);     /* the stack */
    CHECK_EQ(shm_detach((void *)0xc0000000), -EINVAL);     /* kernel half */
    CHECK_EQ(shm_detach((void *)0x50000000), -EINVAL);     /* nothing there */
    CHECK_EQ(shm_detach(p), 0);
    CHECK_EQ(shm_detach(p), -EINVAL);          /* double detach */
    char *q = shm_attach(id, p, 0);            /* the range is free again */
    CHECK_EQ(q, p);
    CHECK_EQ(q[0], 1);                         /* same segment, same data */
    CHECK_EQ(shm_detach(q), 0);
    CHECK_EQ(shm_destroy(id), 0);
    return 0;
}
