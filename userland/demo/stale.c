// TLB shootdown: a thread on one CPU keeps using a page while its sibling
// on the other CPU takes the page away. Run it on two CPUs:
//   ia32k run --cpus 2 userland/demo/stale.c
// The reader thread spins on a word of a shared memory segment; main
// detaches the segment (its last attachment: the frame is freed), and a
// new segment (the frame's next owner) writes 0xbbbbbbbb into the same
// frame. With TLB shootdown (the default) the detach flushes the reader's
// CPU before it returns: the reader's next load faults, which kills the
// process (status 270, the fault names the reader's tid). With
// `--tlb-shootdown off` the reader's CPU keeps the old translation and
// reads the next owner's data through it; the kernel reports each such
// access (stale_tlb). arg 1: mprotect(PROT_NONE) instead of a detach;
// arg 2: fork while the reader writes a private word: the child's copy
// must not change under it. arg 3: a copy-on-write break under a reading
// sibling: main writes a page it shares with a sleeping child, and the
// reader must see the new frame's value.
#include "ia32k.h"
#include "sync.h"

#define A ((volatile u32 *)0x50000000)
#define B ((volatile u32 *)0x60000000)
static char stack[4096];
static volatile u32 started, reads, word;
static u32 private_page[1024] __attribute__((aligned(4096)));

static int reader(void *arg)
{
    volatile u32 *p = arg;
    started = 1;
    for (;;) {
        u32 v = p[0];
        if (v == 0xbbbbbbbb) {
            printf("reader: tid %d read 0x%x at %p: the next owner's data\n",
                   gettid(), v, p);
            return 66;
        }
        reads++;
    }
}

static int writer(void *arg)
{
    (void)arg;
    started = 1;
    for (;;) {
        private_page[0]++;
        reads++;
    }
}

static int cow_reader(void *arg)
{
    (void)arg;
    started = 1;
    for (u32 i = 0; i < 2000000; i++) {
        if (*(volatile u32 *)private_page == 1)
            return 0;                    /* the new frame */
        reads++;
    }
    printf("reader: still reading the old frame\n");
    return 77;
}

static int cow_case(void)
{
    private_page[0] = 0;
    int pid = fork();                    /* the child shares the page */
    if (pid == 0) {
        char b;
        recv(&b, 1, 0);                  /* asleep, naming the frame */
        exit(0);
    }
    int t = thread_create(cow_reader, 0, stack, sizeof stack);
    while (!started || reads < 1000)
        cpu_relax();
    private_page[0] = 1;                 /* a copy-on-write break */
    int status = -1;
    thread_join(t, &status);
    send(pid, "x", 1);
    wait(pid, 0);
    return status;
}

static void wait_until_running(void)
{
    while (!started || reads < 1000)
        cpu_relax();
}

static int fork_case(void)
{
    private_page[0] = 0;
    int t = thread_create(writer, 0, stack, sizeof stack);
    wait_until_running();
    int pid = fork();
    if (pid == 0) {
        u32 first = private_page[0];
        for (int i = 0; i < 200000; i++)
            if (private_page[0] != first) {
                printf("child: my copy changed under me: %u -> %u\n",
                       first, private_page[0]);
                exit(1);
            }
        printf("child: my copy stayed %u\n", first);
        exit(0);
    }
    int status = -1;
    wait(pid, &status);
    (void)t;
    exit(status == 0 ? 0 : 1);           /* ends the writer too */
}

int main(int arg)
{
    if (arg == 2)
        return fork_case();
    if (arg == 3)
        return cow_case();
    int a = shm_create(0, 4096, 0600);
    CHECK(shm_attach(a, (void *)A, 0) == (void *)A);
    A[0] = 0xaaaaaaaa;
    shm_destroy(a);                      /* its frame goes at the detach */
    int t = thread_create(reader, (void *)A, stack, sizeof stack);
    wait_until_running();
    if (arg == 1) {
        CHECK_EQ(mprotect((void *)A, 4096, PROT_NONE), 0);
        printf("main: made the page no-access while tid %d reads it\n", t);
    } else {
        CHECK_EQ(shm_detach((void *)A), 0);
        int b = shm_create(0, 4096, 0600);
        CHECK(shm_attach(b, (void *)B, 0) == (void *)B);
        shm_destroy(b);
        B[0] = 0xbbbbbbbb;               /* the freed frame's next owner */
        printf("main: detached the segment while tid %d reads it; its "
               "frame's next owner wrote 0xbbbbbbbb\n", t);
    }
    int status = -1;
    thread_join(t, &status);
    return status;
}
