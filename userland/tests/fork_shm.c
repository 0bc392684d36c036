/* fork inherits shm attachments: the same addresses, the same flags (a
   read-only attachment stays read-only), the same frames; nattch counts
   the child's. Child 2 writes the read-only attachment and dies (270). */
#include "ia32k.h"

int main(int arg)
{
    u32 st[6];
    int id = shm_create(0x5A5A, 8192, 0600);
    CHECK(id > 0);
    volatile u32 *rw = shm_attach(id, 0, 0);
    volatile u32 *ro = shm_attach(id, 0, SHM_RDONLY);
    CHECK(!is_err((int)rw) && !is_err((int)ro));
    rw[0] = 11;
    CHECK_EQ(shm_stat(id, st), 0);
    CHECK_EQ(st[4], 2);
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        CHECK_EQ(shm_stat(id, st), 0);
        CHECK_EQ(st[4], 4);                   /* two more: the child's */
        CHECK_EQ(ro[0], 11);
        rw[0] = 22;                           /* shared, not copied */
        rw[1024] = 33;                        /* untouched page: faults in */
        exit(0);
    }
    int s = -1;
    CHECK_EQ(wait(pid, &s), pid);
    CHECK_EQ(s, 0);
    CHECK_EQ(rw[0], 22);
    CHECK_EQ(ro[1024], 33);
    CHECK_EQ(shm_stat(id, st), 0);
    CHECK_EQ(st[4], 2);                       /* the child's are gone */
    pid = fork();
    if (pid == 0) {
        ro[0] = 1;                            /* read-only: killed */
        exit(0);
    }
    CHECK_EQ(wait(pid, &s), pid);
    CHECK_EQ(s, 270);
    CHECK_EQ(rw[0], 22);
    CHECK_EQ(shm_destroy(id), 0);
    printf("fork_shm: ok\n");
    return 0;
}
