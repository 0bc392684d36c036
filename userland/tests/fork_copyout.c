/* xv6 cowtest "file", ia32k form: the kernel's own copy-out (recv's
   buffer and sender, wait's status, shm_stat's buffer) into a page shared
   copy-on-write gives the caller its copy and leaves the other's intact. */
#include "ia32k.h"

static char buf[64] = "original";
static int from = -7;
static u32 st6[6] = {1, 2, 3, 4, 5, 6};

int main(int arg)
{
    int id = shm_create(0, 4096, 0600);
    CHECK(id > 0);
    int status = -5;                 /* on the stack: copy-on-write too */
    int parent = getpid();
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char ack[4];
        CHECK_EQ(send(parent, "from child", 11), 0);
        CHECK_EQ(recv(ack, sizeof ack, 0), 4);    /* parent is done */
        CHECK(memcmp(buf, "original", 9) == 0);
        CHECK_EQ(from, -7);
        CHECK_EQ(st6[0], 1);
        CHECK_EQ(st6[5], 6);
        CHECK_EQ(status, -5);
        exit(9);
    }
    CHECK_EQ(recv(buf, sizeof buf, &from), 11);
    CHECK(memcmp(buf, "from child", 11) == 0);
    CHECK_EQ(from, pid);
    CHECK_EQ(shm_stat(id, st6), 0);
    CHECK_EQ(st6[1], 4096);
    CHECK_EQ(send(pid, "ack", 4), 0);
    CHECK_EQ(wait(pid, &status), pid);
    CHECK_EQ(status, 9);
    printf("fork_copyout: ok\n");
    return 0;
}
