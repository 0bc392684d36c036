/* shm_attach: placement, fixed-address checks (alignment, overlap with the
 * image, the stack, another attachment, the kernel half, wrapping past
 * 4 GiB), unknown and destroyed ids, ignored flag bits. */
#include "ia32k.h"

#define MB (1u << 20)

static void *at(u32 a) { return (void *)a; }

static void fixed_address_errors(int id)       /* id: a 2-page segment */
{
    CHECK_EQ(shm_attach(id, at(0x50000800), 0), -EINVAL);      /* unaligned */
    CHECK_EQ(shm_attach(id, at(0x50000001), 0), -EINVAL);
    CHECK_EQ(shm_attach(id, at(0x003ff000), 0), -EINVAL);      /* into the image */
    CHECK_EQ(shm_attach(id, at(0x00400000), 0), -EINVAL);
    CHECK_EQ(shm_attach(id, at(0xbffef000), 0), -EINVAL);      /* into the stack */
    CHECK_EQ(shm_attach(id, at(0xbfff0000), 0), -EINVAL);
    CHECK_EQ(shm_attach(id, at(0xc0000000), 0), -EINVAL);      /* kernel half */
    CHECK_EQ(shm_attach(id, at(0xd0000000), 0), -EINVAL);
    CHECK_EQ(shm_attach(id, at(0xffffe000), 0), -EINVAL);      /* ends at 4 GiB */
    CHECK_EQ(shm_attach(id, at(0xfffff000), 0), -EINVAL);      /* wraps past it */
}

static void placement(int id)                  /* id: a 2-page segment */
{
    u32 st[6];
    char *a = shm_attach(id, 0, 0), *b = shm_attach(id, 0, 0);
    CHECK_EQ(a, 0x40000000);                   /* first fit in the window */
    CHECK_EQ(b, 0x40002000);
    CHECK_EQ(shm_attach(id, a + 4096, 0), -EINVAL);    /* overlaps a */
    CHECK_EQ(shm_attach(id, a - 4096, 0), -EINVAL);    /* overlaps a's start */
    CHECK_EQ(shm_detach(a), 0);
    int big = shm_create(0, 3 * 4096, 0600);
    char *c = shm_attach(big, 0, 0);           /* does not fit a's hole */
    CHECK_EQ(c, 0x40004000);
    char *d = shm_attach(id, 0, 0xfffffffe);   /* fits it; other flags ignored */
    CHECK_EQ(d, 0x40000000);
    d[0] = 'w';                                /* read-write: bit 0 clear */
    CHECK_EQ(b[0], 'w');                       /* b and d alias one frame */
    char *e = shm_attach(id, at(0xbffee000), 0);   /* ends where the stack starts */
    CHECK_EQ(e, 0xbffee000);
    CHECK_EQ(e[0], 'w');
    char *f = shm_attach(id, at(0x1000), 0);   /* the lowest user page */
    CHECK_EQ(f, 0x1000);
    CHECK_EQ(shm_stat(id, st), 0);
    CHECK_EQ(st[4], 4);
    CHECK_EQ(shm_detach(b), 0);
    CHECK_EQ(shm_detach(c), 0);
    CHECK_EQ(shm_detach(d), 0);
    CHECK_EQ(shm_detach(e), 0);
    CHECK_EQ(shm_detach(f), 0);
    CHECK_EQ(shm_destroy(big), 0);
}

static void window_full(void)
{
    int id = shm_create(0, 64 * MB, 0600);
    u32 expect = 0x40000000;
    for (int i = 0; i < 28; i++, expect += 64 * MB)  /* 28 x 64 MiB fill it */
        CHECK_EQ(shm_attach(id, 0, 0), expect);
    CHECK_EQ(shm_attach(id, 0, 0), -ENOMEM);
    CHECK_EQ(shm_attach(id, at(0x10000000), 0), 0x10000000);  /* fixed: fine */
    CHECK_EQ(shm_destroy(id), 0);              /* exit detaches the rest */
}

int main(int arg)
{
    CHECK_EQ(shm_attach(0, 0, 0), -EINVAL);
    CHECK_EQ(shm_attach(-1, 0, 0), -EINVAL);
    CHECK_EQ(shm_attach(9999, 0, 0), -EINVAL);
    int id = shm_create(0, 8192, 0600);
    CHECK(id > 0);
    fixed_address_errors(id);
    placement(id);
    int gone = shm_create(0, 4096, 0600);
    CHECK_EQ(shm_destroy(gone), 0);            /* destroyed, never attached */
    CHECK_EQ(shm_attach(gone, 0, 0), -EINVAL);
    char *p = shm_attach(id, 0, 0);
    CHECK_EQ(shm_destroy(id), 0);              /* destroyed, still attached */
    CHECK_EQ(shm_attach(id, 0, 0), -EIDRM);
    CHECK_EQ(shm_attach(id, at(0x50000800), 0), -EIDRM);   /* before the address */
    CHECK_EQ(p[0], 'w');                       /* still works */
    CHECK_EQ(shm_detach(p), 0);
    CHECK_EQ(shm_attach(id, 0, 0), -EINVAL);   /* now it is gone */
    window_full();
    return 0;
}
