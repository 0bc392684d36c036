/* 64 MiB of shared memory is there with the default 128 MiB of RAM: touch
 * every page through one attachment, read every page back through a
 * read-only alias attached afterwards (mapped in bulk at attach time). */
#include "ia32k.h"

#define SIZE (64u << 20)

int main(int arg)
{
    int id = shm_create(0, SIZE, 0600);
    CHECK(id > 0);
    u32 *rw = shm_attach(id, 0, 0);
    CHECK(!is_err((int)rw));
    for (u32 i = 0; i < SIZE / 4096; i++)
        rw[i * 1024] = i ^ 0x5a5a5a5a;
    u32 *ro = shm_attach(id, 0, SHM_RDONLY);
    CHECK_EQ(ro, (u32)rw + SIZE);
    for (u32 i = 0; i < SIZE / 4096; i++)
        CHECK_EQ(ro[i * 1024 + 1], 0);         /* zero-filled */
    for (u32 i = 0; i < SIZE / 4096; i++)
        if (ro[i * 1024] != (i ^ 0x5a5a5a5a))
            CHECK_EQ(ro[i * 1024], i ^ 0x5a5a5a5a);
    CHECK_EQ(shm_destroy(id), 0);
    return 0;
}
