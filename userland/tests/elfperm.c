/* PF_W is honoured per ELF segment. Run with arg 0: checks .data and .bss,
 * then spawns itself with arg 1 (write to .rodata) and arg 2 (write to
 * .text); each must die with a page fault (270). Exits 0 when all hold. */
#include "ia32k.h"

static const char rodata[16] = "read only";
static volatile char data[16] = "read write";
static char bss[8192];
const volatile char *volatile target;

int main(int arg)
{
    if (arg == 1)
        target = rodata;
    if (arg == 2)
        target = (const char *)main;
    if (arg) {
        *(volatile char *)target = 'X';
        return 3;                       /* the write went through */
    }
    CHECK_EQ(data[0], 'r');
    data[0] = 'R';
    CHECK_EQ(data[0], 'R');
    for (unsigned i = 0; i < sizeof bss; i++)
        CHECK_EQ(bss[i], 0);
    bss[sizeof bss - 1] = 1;
    for (int a = 1; a <= 2; a++) {
        int status = -1, pid = spawn("elfperm", a);
        CHECK_EQ(wait(pid, &status), pid);
        CHECK_EQ(status, 270);
    }
    CHECK_EQ(rodata[0], 'r');
    printf("elfperm: ok\n");
    return 0;
}
