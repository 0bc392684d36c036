/* Move MiB of data from a producer to a consumer by send/recv, 4 KiB per
 * message. Each 4 KiB chunk carries its number in its first word and a
 * pattern in its last, and the consumer checks both. arg: role | MiB << 5
 * (shared_arg.h layout, no shared memory); arg 0 runs 4 MiB. The host
 * side of the comparison (time, calls, switches) is tools/bench/ipc.py. */
#include "shared_arg.h"

enum { LAUNCH, PRODUCER, CONSUMER };
#define CHUNK 4096
#define DEFAULT_MIB 4
#define PATTERN 0x5a5a1234u

static u32 buf[CHUNK / 4];

static int consume(u32 chunks)
{
    for (u32 i = 0; i < chunks; i++) {
        CHECK_EQ(recv(buf, CHUNK, 0), CHUNK);
        CHECK_EQ(buf[0], i);
        CHECK_EQ(buf[CHUNK / 4 - 1], PATTERN ^ i);
    }
    return 0;
}

static int produce(u32 mib)
{
    u32 chunks = mib << 20 >> 12;
    int status, child = spawn("msg_xfer", (int)(mib << 5 | CONSUMER));
    CHECK(child > 0);
    for (u32 i = 0; i < chunks; i++) {
        buf[0] = i;
        buf[CHUNK / 4 - 1] = PATTERN ^ i;
        CHECK_EQ(send(child, buf, CHUNK), 0);
    }
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(status, 0);
    printf("msg_xfer: %u MiB in %u messages of %u bytes\n", mib, chunks,
           CHUNK);
    return 0;
}

int main(int arg)
{
    u32 mib = arg ? ARG_PARAM(arg) : DEFAULT_MIB;
    if (ARG_ROLE(arg) == CONSUMER)
        return consume(mib << 20 >> 12);
    return produce(mib);
}
