/* Move MiB of data from a producer to a consumer through a ring in shared
 * memory (64 KiB: as much buffering as a 16-message queue; or larger); a
 * side makes a system call only when the ring went empty or full. Same 4 KiB chunks and
 * checks as msg_xfer.c. Two ways:
 *   copying    ring_put/ring_get: the consumer ends with its own copy, as
 *              with messages, but the copies are guest instructions;
 *   zero-copy  chunks are written and checked in place in the ring, as
 *              many at a time as the ring has room or data for.
 * arg (shared_arg.h): role 1 producer, 2 consumer, | 4 for zero-copy;
 * param = MiB (1-31) | size << 5, the ring being 64 KiB << 2 * size (64 KiB,
 * 256 KiB, 1 MiB, 4 MiB); the shared area must hold AREA_BYTES(size).
 * arg 0 launches both ways on a shm segment: 4 MiB, 64 KiB ring; arg =
 * param << 5 | role 0 or 4 launches one way with that param. */
#include "shared_arg.h"
#include "sync.h"

enum { LAUNCH, PRODUCER, CONSUMER, ZERO_COPY = 4 };
#define CHUNK 4096
#define DEFAULT_MIB 4
#define PATTERN 0x5a5a1234u
#define RING_OFF 64                  /* room for a control block first */
#define RING_BYTES(size) ((64u << 10) << 2 * (size))
#define AREA_BYTES(size) (RING_OFF + 64 + RING_BYTES(size))
#define LAST (CHUNK / 4 - 1)

static u32 buf[CHUNK / 4];

static void fill(u32 *chunk, u32 i)
{
    chunk[0] = i;
    chunk[LAST] = PATTERN ^ i;
}

static void check(const u32 *chunk, u32 i)
{
    CHECK_EQ(chunk[0], i);
    CHECK_EQ(chunk[LAST], PATTERN ^ i);
}

/* Zero-copy: take every whole chunk the ring holds at once, check each in
 * place, release them all with one ring_read_end. */
static void consume_in_place(struct ring *r, u32 chunks)
{
    for (u32 i = 0; i < chunks;) {
        u32 n = (chunks - i) * CHUNK;
        const u32 *p = ring_read_begin(r, &n);
        CHECK(p != 0 && n % CHUNK == 0);
        for (u32 k = 0; k < n / CHUNK; k++, i++)
            check(p + k * (CHUNK / 4), i);
        ring_read_end(r, n);
    }
}

static int consume(struct ring *r, u32 chunks, int zero_copy)
{
    if (zero_copy)
        consume_in_place(r, chunks);
    for (u32 i = 0; i < chunks && !zero_copy; i++) {
        CHECK_EQ(ring_get(r, buf, CHUNK), CHUNK);
        check(buf, i);
    }
    CHECK_EQ(ring_get(r, buf, CHUNK), 0);           /* closed and empty */
    printf("ring_xfer: consumer slept %u times, producer %u, %u wakes\n",
           r->cons_sleeps, r->prod_sleeps, r->wakes_sent);
    return 0;
}

/* Zero-copy: fill every whole chunk of free space in place, publish them
 * with one ring_write_end. */
static void produce_in_place(struct ring *r, u32 chunks)
{
    for (u32 i = 0; i < chunks;) {
        u32 n = (chunks - i) * CHUNK;
        u32 *p = ring_write_begin(r, &n);
        CHECK(n % CHUNK == 0);
        for (u32 k = 0; k < n / CHUNK; k++, i++)
            fill(p + k * (CHUNK / 4), i);
        ring_write_end(r, n);
    }
}

static int produce(struct ring *r, u32 mib, int zero_copy)
{
    u32 chunks = mib << 20 >> 12;
    if (zero_copy)
        produce_in_place(r, chunks);
    for (u32 i = 0; i < chunks && !zero_copy; i++) {
        fill(buf, i);
        ring_put(r, buf, CHUNK);
    }
    ring_close(r);
    printf("ring_xfer: %u MiB %s through a %u KiB ring\n", mib,
           zero_copy ? "zero-copy" : "copied", r->size >> 10);
    return 0;
}

static int run(void *area, int role, u32 param)
{
    struct ring *r;
    u32 mib = param & 31, size = param >> 5;
    if (role & PRODUCER) {
        r = ring_format(PTR_AT(area, RING_OFF), AREA_BYTES(size) - RING_OFF);
        CHECK(r != 0);
        return produce(r, mib, role & ZERO_COPY);
    }
    while (!(r = ring_open(PTR_AT(area, RING_OFF))))
        yield();
    return consume(r, mib << 20 >> 12, role & ZERO_COPY);
}

static void launch(int zero_copy, u32 param)
{
    int id, status;
    void *area = shared_create(AREA_BYTES(param >> 5), &id);
    if (!area)
        return;
    int child = spawn("ring_xfer", SHARED_ARG(id, param, CONSUMER | zero_copy));
    CHECK(child > 0);
    run(area, PRODUCER | zero_copy, param);
    CHECK_EQ(wait(child, &status), child);
    CHECK_EQ(status, 0);
    shared_release(area, id);
}

int main(int arg)
{
    int role = ARG_ROLE(arg);
    if (arg == 0) {
        launch(0, DEFAULT_MIB);
        launch(ZERO_COPY, DEFAULT_MIB);
        return 0;
    }
    if ((role & 3) == LAUNCH && !(arg & ~0xFFF)) {
        launch(role & ZERO_COPY, ARG_PARAM(arg));
        return 0;
    }
    void *area = shared_area(arg);
    CHECK(area != 0);
    return run(area, role, ARG_PARAM(arg));
}
