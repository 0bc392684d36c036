/* xv6 cowtest "three": a parent, its child and its grandchild write
   overlapping pages of one array (P: pages 0-3, C: 2-5, G: 4-7) while the
   others run; each then sees its own marks and the original elsewhere. */
#include "ia32k.h"

#define NPAGES 8
static u32 pages[NPAGES][1024];

static void fill(void)
{
    for (int p = 0; p < NPAGES; p++)
        for (int i = 0; i < 1024; i++)
            pages[p][i] = p << 16 | i;
}

static void mark(int who, int first)
{
    for (int r = 0; r < 3; r++) {
        for (int p = first; p < first + 4; p++)
            for (int i = 0; i < 1024; i += 7)
                pages[p][i] = who << 24 | p << 16 | i;
        yield();
    }
}

static void verify(int who, int first)
{
    for (int p = 0; p < NPAGES; p++)
        for (int i = 0; i < 1024; i++) {
            int mine = p >= first && p < first + 4 && i % 7 == 0;
            CHECK_EQ(pages[p][i], (mine ? who << 24 : 0) | p << 16 | i);
        }
}

int main(int arg)
{
    int st = -1;
    fill();
    int c = fork();
    CHECK(c >= 0);
    if (c == 0) {
        int g = fork();
        CHECK(g >= 0);
        if (g == 0) {
            mark(3, 4);
            verify(3, 4);
            exit(0);
        }
        mark(2, 2);
        CHECK_EQ(wait(g, &st), g);
        CHECK_EQ(st, 0);
        verify(2, 2);
        exit(0);
    }
    mark(1, 0);
    CHECK_EQ(wait(c, &st), c);
    CHECK_EQ(st, 0);
    verify(1, 0);
    printf("fork_three: ok\n");
    return 0;
}
