/* futexes across fork. arg 0: a word in a shm attachment stays shared:
   the child sleeps, the parent wakes it. arg 1: a private word is keyed by
   (process, virtual address): the child sleeps on it while both still
   share its frame copy-on-write, and the parent's wake, before any write,
   finds nobody. arg 2: the parent writes first (copy-on-write gives it a
   frame of its own), and its wake finds nobody either. In both the child
   sleeps on until the deadlock report ends it. The
   segment is destroyed at once: the child inherits a destroyed segment's
   attachment, and its frame goes with the last detach. */
#include "ia32k.h"

static volatile u32 word;

static void wait_until_asleep(volatile u32 *flag)
{
    while (*flag != 1)
        yield();
    for (int i = 0; i < 4; i++)          /* its futex_wait comes next */
        yield();
}

int main(int arg)
{
    int id = shm_create(0, 4096, 0600);
    volatile u32 *sh = shm_attach(id, 0, 0);
    CHECK(!is_err((int)sh));
    CHECK_EQ(shm_destroy(id), 0);        /* frames go at the last detach */
    volatile u32 *w = arg == 0 ? sh + 1 : &word;
    *w = 0;
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sh[0] = 1;
        int r = futex_wait(w, 0);
        CHECK_EQ(r, 0);
        CHECK_EQ(*w, 5);                 /* only arg 0 wakes it */
        *w = 7;
        exit(3);
    }
    wait_until_asleep(sh);
    if (arg == 2) {
        *w = 5;                          /* a copy-on-write break */
        CHECK_EQ(futex_wake(w, 1), 0);   /* the child's key is its own */
        printf("fork_futex: parent wrote first, woke nobody\n");
        return 0;
    }
    if (arg == 1) {
        CHECK_EQ(futex_wake(w, 1), 0);   /* one frame, two keys */
        printf("fork_futex: parent did not write, woke nobody\n");
        return 0;
    }
    *w = 5;
    CHECK_EQ(futex_wake(w, 1), 1);
    int st = -1;
    CHECK_EQ(wait(pid, &st), pid);
    CHECK_EQ(st, 3);
    CHECK_EQ(*w, 7);                     /* the shared word */
    printf("fork_futex %d: ok\n", arg);
    return 0;
}
