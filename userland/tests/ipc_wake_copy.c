/* A receiver that sleeps in recv gets the message in its own address
 * space: parent and child run the same image, so their buffers share one
 * virtual address but not one frame; the parent's copy must stay as it
 * was. With no preemption the child is asleep when the parent sends. */
#include "ia32k.h"

static char buf[64] = "parent's own bytes";

int main(int arg)
{
    int from, status;
    if (arg == 1) {
        memset(buf, 0, sizeof buf);
        CHECK_EQ(recv(buf, sizeof buf, &from), 6);
        CHECK(memcmp(buf, "hello", 6) == 0);
        return 0;
    }
    int child = spawn("ipc_wake_copy", 1);
    CHECK(child > 0);
    yield();                               /* the child runs and sleeps */
    CHECK_EQ(send(child, "hello", 6), 0);
    CHECK(strcmp(buf, "parent's own bytes") == 0);
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(status, 0);
    printf("ipc_wake_copy: ok\n");
    return 0;
}
