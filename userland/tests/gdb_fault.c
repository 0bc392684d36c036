/* For the gdb tests: read through a bad pointer. Under gdb the page fault
 * stops the process (SIGSEGV) before the kernel kills it (status 270). */
#include "ia32k.h"

int *volatile nowhere = (int *)0x1234;

int main(int arg)
{
    printf("about to fault\n");
    return *nowhere;
}
