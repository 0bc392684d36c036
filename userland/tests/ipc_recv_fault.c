// expect: exit 0
// expect: stdout ipc_recv_fault: ok
// expect: modes check
/* recv's checks: a buffer or from_ptr that is not writable fails with
 * -EFAULT before anything is dequeued, so nothing is lost; only the first
 * min(len, 4096) bytes must be writable; a short buffer truncates. */
#include "ia32k.h"

static const char ro_page[8192] = { 1 };   /* .rodata: read-only */
#define UNMAPPED ((void *)0x10000000)
#define KERNEL ((void *)0xC0000000)
#define STACK_LAST_PAGE ((char *)0xBFFFF000)

int main(int arg)
{
    int me = getpid(), from = -1;
    char buf[64];

    CHECK_EQ(send(me, "one", 3), 0);
    CHECK_EQ(send(me, "second", 6), 0);
    CHECK_EQ(send(me, "", 0), 0);
    CHECK_EQ(recv((void *)ro_page, 64, 0), -EFAULT);
    CHECK_EQ(recv(UNMAPPED, 64, 0), -EFAULT);
    CHECK_EQ(recv(KERNEL, 1, 0), -EFAULT);
    CHECK_EQ(recv(buf, 64, (int *)ro_page), -EFAULT);
    CHECK_EQ(recv(buf, 64, (int *)0xBFFFFFFE), -EFAULT);  /* runs into the kernel */
    CHECK_EQ(recv(UNMAPPED, 0, (int *)KERNEL), -EFAULT);  /* len 0: from_ptr still checked */

    /* len 100000, but only [buf, buf + 4096) must be writable */
    CHECK_EQ(recv(STACK_LAST_PAGE, 100000, &from), 3);
    CHECK(memcmp(STACK_LAST_PAGE, "one", 3) == 0);
    CHECK_EQ(from, me);

    memset(buf, '.', sizeof buf);
    CHECK_EQ(recv(buf, 2, 0), 6);          /* truncated: the size is returned */
    CHECK(memcmp(buf, "se..", 4) == 0);
    CHECK_EQ(recv(UNMAPPED, 0, 0), 0);     /* len 0 needs no buffer at all */

    CHECK_EQ(send(me, "x", 1), 0);
    CHECK_EQ(recv(0, 0, &from), 1);        /* a message may be dropped by size */
    printf("ipc_recv_fault: ok\n");
    return 0;
}
