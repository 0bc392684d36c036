/* Demo: two processes share one segment at different virtual addresses.
 *
 * The parent attaches it where the kernel chooses (0x40000000), the child
 * at 0x60000000. Each writes a message the other reads: the same physical
 * frames sit behind both ranges (run with --maps to see them). The two
 * messages sit on different pages, so each page's frame is taken at the
 * first touch of whichever process gets there first. */
#include "ia32k.h"

#define KEY 0x5348u
#define CHILD_BASE ((void *)0x60000000)

struct board {
    volatile int turn;          /* 0: parent writes, 1: child, 2: done */
    char msg[2][4096 - 4];      /* msg[1] starts on the second page */
};

static void say(char *dst, const char *who, void *at)
{
    const char *text = " wrote this through its mapping at 0x";
    int n = 0;
    for (const char *s = who; *s; s++) dst[n++] = *s;
    for (const char *s = text; *s; s++) dst[n++] = *s;
    for (int sh = 28; sh >= 0; sh -= 4)
        dst[n++] = "0123456789abcdef"[((u32)at >> sh) & 15];
    dst[n] = 0;
}

static int child(void)
{
    struct board *b = shm_attach(shm_lookup(KEY), CHILD_BASE, 0);
    CHECK(b == CHILD_BASE);
    while (b->turn != 1)
        yield();
    printf("child  (pid %d) at %p reads: \"%s\"\n", getpid(), b, b->msg[0]);
    say(b->msg[1], "the child", b);
    b->turn = 2;
    return 0;                   /* exit detaches */
}

int main(int arg)
{
    if (arg)
        return child();
    int id = shm_create(KEY, 8192, 0600);
    CHECK(id > 0);
    struct board *b = shm_attach(id, 0, 0);
    CHECK(!is_err((int)b));
    int pid = spawn("shmshare", 1);
    say(b->msg[0], "the parent", b);
    b->turn = 1;
    while (b->turn != 2)
        yield();
    printf("parent (pid %d) at %p reads: \"%s\"\n", getpid(), b, b->msg[1]);
    int status = -1;
    wait(pid, &status);
    CHECK_EQ(shm_destroy(id), 0);   /* frames go when we exit and detach */
    return status;
}
