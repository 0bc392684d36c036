/* For the gdb tests: spin without a system call until a debugger sets
 * `stop` (after interrupting the run with Ctrl-C). Without a debugger it
 * never ends, so it lives apart from the self-checking programs that
 * tests/test_cpus2.py runs one by one. */
#include "ia32k.h"

volatile int stop;
volatile unsigned spins;

int main(int arg)
{
    while (!stop)
        spins++;
    printf("stopped after %u spins\n", spins);
    return 0;
}
