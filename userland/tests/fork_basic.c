/* fork: the child is a copy (registers, private memory as it was), its
   writes stay its own, the parent's too; wait gets the child's status. */
#include "ia32k.h"

static int counter = 41;
static char big[3 * 4096];

int main(int arg)
{
    int local = 7;
    big[4096] = 'p';
    int pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        CHECK_EQ(counter, 41);
        CHECK_EQ(local, 7);
        CHECK_EQ(big[4096], 'p');
        counter = 100;               /* a COW write fault: copy */
        local = 8;                   /* the stack: copy */
        big[4096] = 'c';
        CHECK_EQ(counter, 100);
        printf("child %d: counter %d\n", getpid(), counter);
        exit(3);
    }
    int status = -1;
    CHECK_EQ(wait(pid, &status), pid);   /* copy-out into the stack */
    CHECK_EQ(status, 3);
    CHECK_EQ(counter, 41);
    CHECK_EQ(local, 7);
    CHECK_EQ(big[4096], 'p');
    counter = 42;                    /* the last one naming it: reuse */
    printf("parent: counter %d, child %d exited %d\n", counter, pid, status);
    return 0;
}
