/* For the gdb tests and README: two processes share one page at different
 * addresses (the parent at 0x40000000, the child at 0x60000000). The child
 * stops in attached() once its mapping exists; the parent then writes the
 * word at offset 4 through its own address: a watchpoint set in the child
 * fires in the parent. */
#include "ia32k.h"

#define KEY 0x6764
#define PARENT_VA ((void *)0x40000000)
#define CHILD_VA ((void *)0x60000000)

volatile int *word;             /* the shared page as this process sees it */

/* Called by the child once the page is attached: a place to break. */
void __attribute__((noinline)) attached(volatile int *w)
{
    w[0] = 1;                   /* tell the parent */
}

static int child(void)
{
    word = shm_attach(shm_lookup(KEY), CHILD_VA, 0);
    CHECK(word == CHILD_VA);
    attached(word);
    while (word[0] != 2)
        yield();
    printf("child  (pid %d) reads %x at %p\n", getpid(), word[1], word + 1);
    return 0;
}

int main(int arg)
{
    if (arg)
        return child();
    int id = shm_create(KEY, 4096, 0600);
    word = shm_attach(id, PARENT_VA, 0);
    CHECK(word == PARENT_VA);
    word[1] = 0x1111;
    int status = -1, pid = spawn("gdb_shm", 1);
    while (word[0] != 1)
        yield();
    word[1] = 0x2222;           /* through 0x40000004: the child's watch */
    word[0] = 2;
    CHECK_EQ(wait(pid, &status), pid);
    CHECK_EQ(shm_destroy(id), 0);
    printf("parent (pid %d) wrote %x at %p\n", getpid(), word[1], word + 1);
    return status;
}
