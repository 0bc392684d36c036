/* Demo for `make trace`: what the MMU does for two processes.
 *
 * The parent touches its demand-zero stack, puts a word in a shared segment
 * at 0x60000000 (when the kernel has shared memory), and spawns a child.
 * The child touches its own stack, reads and writes the same shared word,
 * then writes into its own read-only code: a protection fault that kills
 * it (status 270), which the parent checks. Traced, this shows demand-zero
 * faults, a fatal fault, both processes' walks ending at the same shared
 * frame, and every PTE the kernel writes and clears. */
#include "ia32k.h"

#define SHM_KEY 0x7a6b
#define SHM_VA ((void *)0x60000000)

/* Touch n bytes of stack, a page at a time, so the stack grows. */
static int touch_stack(int n)
{
    volatile char buf[3 * 4096];
    for (int i = 0; i < n && i < (int)sizeof buf; i += 4096)
        buf[i] = (char)i;
    return buf[0];
}

/* The shared word, or 0 when the kernel has no shared memory yet. */
static volatile u32 *shared_word(int create)
{
    int id = create ? shm_create(SHM_KEY, 4096, 0600) : shm_lookup(SHM_KEY);
    if (is_err(id))
        return 0;
    void *at = shm_attach(id, SHM_VA, 0);
    return is_err((int)at) ? 0 : (volatile u32 *)at + 1;
}

static int child(void)
{
    touch_stack(2 * 4096);
    volatile u32 *w = shared_word(0);
    if (w) {
        printf("pagewalk child: shared word is %x\n", *w);
        *w = 0xc0ffee;
    }
    volatile u32 *code = (volatile u32 *)(void *)main;
    *code = 0;                         /* read-only: page fault, killed */
    return 1;
}

int main(int arg)
{
    if (arg == 1)
        return child();
    touch_stack(3 * 4096);
    volatile u32 *w = shared_word(1);
    if (w)
        *w = 0x1234;
    printf("pagewalk: pid %d, shared memory %s\n", getpid(),
           w ? "at 0x60000000" : "not available");
    int status = 0, pid = spawn("pagewalk", 1);
    CHECK(pid > 0);
    CHECK_EQ(wait(pid, &status), pid);
    CHECK_EQ(status, 270);             /* killed by its page fault */
    if (w)
        CHECK_EQ(*w, 0xc0ffee);
    return 0;
}
