/* Peers that end: a sender blocked on a full queue wakes with -ESRCH when
 * the target exits or is killed; a zombie or reaped pid is no live process;
 * a message from a sender that has since exited is still delivered. The
 * parent prints how many sends succeeded before -ESRCH (17 when the child
 * takes one message and the queue then fills: 1 + 16). */
#include "ia32k.h"

enum { PARENT, TAKE_ONE_THEN_EXIT, TAKE_ONE_THEN_FAULT, EXIT_AT_ONCE,
       SEND_BYE };

static int child_main(int role, int parent)
{
    char buf[8];
    if (role == TAKE_ONE_THEN_EXIT || role == TAKE_ONE_THEN_FAULT)
        CHECK_EQ(recv(buf, sizeof buf, 0), 1);
    if (role == TAKE_ONE_THEN_FAULT)
        *(volatile int *)0 = 1;            /* killed: status 270 */
    if (role == SEND_BYE)
        CHECK_EQ(send(parent, "bye", 3), 0);
    return 0;
}

/* Send to child until -ESRCH; return the number of successful sends. */
static int flood(int child)
{
    int sent = 0, r;
    while ((r = send(child, "m", 1)) == 0)
        sent++;
    CHECK_EQ(r, -ESRCH);
    return sent;
}

static void flood_child(int role, int want_status)
{
    int status, child = spawn("ipc_peer_exit", role);
    CHECK(child > 0);
    int sent = flood(child);
    CHECK(sent >= 1);
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(status, want_status);
    CHECK_EQ(send(child, "m", 1), -ESRCH);  /* reaped */
    printf("role %d: %d sends before -ESRCH\n", role, sent);
}

int main(int arg)
{
    int role = arg & 0xFF, status, from;
    char buf[8];
    if (role != PARENT)
        return child_main(role, arg >> 8);
    flood_child(TAKE_ONE_THEN_EXIT, 0);
    flood_child(TAKE_ONE_THEN_FAULT, 270);

    int child = spawn("ipc_peer_exit", EXIT_AT_ONCE);
    while (send(child, "m", 1) == 0)       /* until it is a zombie */
        yield();
    CHECK_EQ(send(child, "m", 1), -ESRCH);
    CHECK_EQ(wait(child, &status), child);

    child = spawn("ipc_peer_exit", SEND_BYE | getpid() << 8);
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(recv(buf, sizeof buf, &from), 3);
    CHECK_EQ(from, child);
    CHECK(memcmp(buf, "bye", 3) == 0);
    printf("ipc_peer_exit: ok\n");
    return 0;
}
