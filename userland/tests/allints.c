/* Spawn intn.s for every vector but 0x80 and check each dies with 269. */
#include "ia32k.h"

int main(int arg)
{
    for (int n = 0; n < 256; n++) {
        if (n == 0x80)
            continue;
        int status = -1, pid = spawn("intn", n);
        CHECK(pid > 0);
        CHECK_EQ(wait(pid, &status), pid);
        if (status != 269) {
            eprintf("int %d: status %d\n", n, status);
            return 1;
        }
    }
    printf("allints: 255 vectors ok\n");
    return 0;
}
