/* Demo: copy-on-write after fork, seen from both sides. A process cannot
 * see physical addresses, so the frames come from the kernel: run it with
 * `ia32k run --maps` (each process's map at its exit names the frame of
 * every page, "(cow)" where still shared) or `--trace FILE` (the fork
 * records and the cow-copy fault with its old and new frame).
 *
 * The parent forks a writer and a reader. The writer changes `secret`: its
 * write faults and it gets a copy of the page. The reader, after that,
 * still reads the parent's value from the parent's frame. All three share
 * one shm page, inherited across fork: one frame, never copied. */
#include "ia32k.h"

static volatile u32 secret __attribute__((aligned(4096))) = 1111;

int main(int arg)
{
    int id = shm_create(0, 4096, 0600);
    volatile u32 *sh = shm_attach(id, 0, 0);
    shm_destroy(id);                       /* freed at the last detach */
    sh[0] = 0;
    printf("cow: secret at %p (its own page) = %u, shm page at %p\n",
           &secret, secret, sh);
    int writer = fork();
    if (writer == 0) {
        secret = 2222;                     /* a write fault: cow-copy */
        sh[0] = 1;                         /* shared: the others see it */
        printf("  writer pid %d: secret = %u (its own copy now)\n",
               getpid(), secret);
        return 0;
    }
    int st;
    wait(writer, &st);                     /* the writer exits first */
    int reader = fork();
    if (reader == 0) {
        printf("  reader pid %d: secret = %u, shm says writer done = %u\n",
               getpid(), secret, sh[0]);
        return 0;
    }
    wait(reader, &st);
    printf("cow: parent pid %d: secret = %u; compare the frames of page "
           "%p in the maps above\n", getpid(), secret, &secret);
    return 0;
}
