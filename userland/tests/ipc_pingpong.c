/* Message ping-pong: the parent sends a counter, the child sends it back
 * plus one. arg = rounds (0: 200); the child gets ECHO | rounds. Used by
 * the tests and by tools/bench/ipc.py for the round-trip time. */
#include "ia32k.h"

#define ECHO 0x40000000
#define DEFAULT_ROUNDS 200

static int echo(int rounds)
{
    u32 v;
    int from;
    for (int i = 0; i < rounds; i++) {
        CHECK_EQ(recv(&v, sizeof v, &from), 4);
        v++;
        CHECK_EQ(send(from, &v, sizeof v), 0);
    }
    return 0;
}

int main(int arg)
{
    if (arg & ECHO)
        return echo(arg & ~ECHO);
    int rounds = arg ? arg : DEFAULT_ROUNDS, status, from;
    int child = spawn("ipc_pingpong", ECHO | rounds);
    CHECK(child > 0);
    for (u32 i = 0; i < (u32)rounds; i++) {
        u32 v = i * 3;
        CHECK_EQ(send(child, &v, sizeof v), 0);
        CHECK_EQ(recv(&v, sizeof v, &from), 4);
        CHECK_EQ(from, child);
        CHECK_EQ(v, i * 3 + 1);
    }
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(status, 0);
    printf("ipc_pingpong: %d round trips\n", rounds);
    return 0;
}
