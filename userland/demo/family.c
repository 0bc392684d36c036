/* Demo: a parent spawns three children, each prints and exits with a code;
 * the parent waits for each and prints what it reaped. */
#include "ia32k.h"

int main(int arg)
{
    if (arg > 0) {                     /* a child: arg is its number */
        printf("  child %d: pid %d, uid %d, my parent gave me arg %d\n",
               arg, getpid(), getuid(), arg);
        for (int i = 0; i < arg; i++)
            yield();
        return 0;
    }
    printf("family: pid %d spawning 3 children\n", getpid());
    int kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = spawn("family", i + 1);
    for (int i = 0; i < 3; i++) {
        int status = -1;
        int pid = wait(-1, &status);
        printf("family: reaped pid %d, status %d\n", pid, status);
    }
    return kids[0] > 0 ? 0 : 1;
}
