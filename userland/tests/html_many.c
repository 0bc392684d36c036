/* 256 processes for the --html page's size test: the parent spawns 255
 * children (each exits at once with status 0) and waits for every one.
 * arg 1: a child. */
#include "ia32k.h"

#define CHILDREN 255

int main(int arg)
{
    if (arg)
        return 0;
    int pids[CHILDREN], st;
    for (int i = 0; i < CHILDREN; i++) {
        pids[i] = spawn("html_many", 1);
        CHECK(pids[i] > 0);
    }
    for (int i = 0; i < CHILDREN; i++) {
        CHECK_EQ(wait(pids[i], &st), pids[i]);
        CHECK_EQ(st, 0);
    }
    printf("html_many: %d children\n", CHILDREN);
    return 0;
}
