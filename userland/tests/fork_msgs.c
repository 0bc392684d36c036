/* Queued messages are not copied by fork: a message waits in the
   parent's mailbox when it forks; the child's mailbox starts empty (its
   first recv gets the message it sends itself), the parent still gets
   the queued one. arg 1: the sender. */
#include "ia32k.h"

int main(int arg)
{
    char m[16];
    int from = 0;
    if (arg) {
        CHECK_EQ(send(1, "queued", 7), 0);
        return 0;
    }
    int s = spawn("fork_msgs", 1), st;
    CHECK_EQ(wait(s, &st), s);           /* its message is queued now */
    CHECK_EQ(st, 0);
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        CHECK_EQ(send(getpid(), "self", 5), 0);
        CHECK_EQ(recv(m, sizeof m, &from), 5);
        CHECK_EQ(from, getpid());
        CHECK(memcmp(m, "self", 5) == 0);
        exit(0);
    }
    CHECK_EQ(recv(m, sizeof m, &from), 7);
    CHECK_EQ(from, s);
    CHECK(memcmp(m, "queued", 7) == 0);
    CHECK_EQ(wait(pid, &st), pid);
    CHECK_EQ(st, 0);
    printf("fork_msgs: ok\n");
    return 0;
}
