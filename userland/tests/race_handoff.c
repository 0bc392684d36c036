/* Hand-offs between a parent and its child through shared memory, for
 * ia32k --races (tests/test_racewatch.py). The child writes data[], the
 * parent reads it after one of these (arg = the mode; 0 runs all):
 *   1 message   the child sends a message, the parent recv()s it;
 *   2 futex     the parent sleeps in futex_wait (the kernel's compare is
 *               its only look at the word), the child futex_wakes it;
 *   3 wait      the parent reads after wait() reaped the child;
 *   4 flag      the parent polls a plain flag the child sets: a data race
 *               (on the flag and on the data) under docs/abi.md's rule.
 * Modes 1-3 are race-free. The child attaches at another address. */
#include "ia32k.h"

enum { ALL, MESSAGE, FUTEX, WAIT, FLAG, NMODES = FLAG };
#define CHILD 0x100
#define N 16

struct area {
    volatile u32 word;          /* futex word / flag */
    volatile u32 data[N];
};

static int child(int mode, int id, int parent)
{
    struct area *a = shm_attach(id, (void *)0x60000000, 0);
    CHECK(!is_err((int)a));
    for (int i = 0; i < N; i++)
        a->data[i] = 100 + i;
    if (mode == MESSAGE) {
        CHECK_EQ(send(parent, "go", 2), 0);
    } else if (mode == FUTEX) {
        a->word = 1;
        futex_wake(&a->word, 1);
    } else if (mode == FLAG) {
        a->word = 1;
    }
    return 0;
}

static u32 sum(struct area *a)
{
    u32 s = 0;
    for (int i = 0; i < N; i++)
        s += a->data[i];
    return s;
}

static int run_mode(int mode)
{
    int id = shm_create(0, sizeof(struct area), 0600);
    struct area *a = shm_attach(id, 0, 0);
    CHECK(!is_err(id) && !is_err((int)a));
    int pid = spawn("race_handoff", CHILD | getpid() << 12 | id << 4 | mode);
    CHECK(pid > 0);
    char buf[4];
    if (mode == MESSAGE)
        CHECK_EQ(recv(buf, sizeof buf, 0), 2);
    else if (mode == FUTEX)
        futex_wait(&a->word, 0);
    else if (mode == FLAG)
        while (!a->word)
            yield();
    if (mode != WAIT)
        CHECK_EQ(sum(a), 16 * 100 + 120);
    CHECK_EQ(wait(pid, 0), pid);
    if (mode == WAIT)
        CHECK_EQ(sum(a), 16 * 100 + 120);
    printf("race_handoff %d: ok\n", mode);
    shm_detach(a);
    shm_destroy(id);
    return 0;
}

int main(int arg)
{
    if (arg & CHILD)
        return child(arg & 15, (arg >> 4) & 15, (u32)arg >> 12);
    if (arg)
        return run_mode(arg);
    for (int m = 1; m <= NMODES; m++)
        run_mode(m);
    return 0;
}
