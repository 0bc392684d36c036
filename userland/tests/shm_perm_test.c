/* Permissions: owner bits for the owner, other bits for the rest, uid 0
 * bypasses; SHM_RDONLY needs read only; -EACCES comes before the address
 * check; destroy by a non-owner is -EPERM. The parent (uid 0) makes the
 * segments; a child drops to uid 1000 and tries them. */
#include "ia32k.h"

#define USER 1000
static void *bad = (void *)0x50000800;         /* an unaligned address */

static void as_other(void)                     /* uid 1000 on root's segments */
{
    int s600 = shm_lookup(0x600), s644 = shm_lookup(0x644);
    int s606 = shm_lookup(0x606), s602 = shm_lookup(0x602);
    CHECK_EQ(shm_attach(s600, 0, 0), -EACCES);
    CHECK_EQ(shm_attach(s600, 0, SHM_RDONLY), -EACCES);
    CHECK_EQ(shm_attach(s600, bad, 0), -EACCES);        /* before the address */
    CHECK_EQ(shm_attach(s644, 0, 0), -EACCES);          /* no write for others */
    char *ro = shm_attach(s644, 0, SHM_RDONLY);
    CHECK_EQ(ro[0], 'R');
    CHECK_EQ(shm_attach(s644, bad, SHM_RDONLY), -EINVAL);  /* allowed: now the address */
    CHECK(!is_err((int)shm_attach(s606, 0, 0)));
    CHECK_EQ(shm_attach(s602, 0, SHM_RDONLY), -EACCES);  /* write-only: no read */
    CHECK_EQ(shm_attach(s602, 0, 0), -EACCES);
    CHECK_EQ(shm_destroy(s644), -EPERM);
    u32 st[6];
    CHECK_EQ(shm_stat(s600, st), 0);           /* stat needs no permission */
    CHECK_EQ(st[2], 0);
}

static void as_owner(void)                     /* uid 1000 on its own segments */
{
    int s400 = shm_create(0x1400, 4096, 0400);
    int s066 = shm_create(0x1066, 4096, 0066);
    int s000 = shm_create(0x1000, 4096, 0);
    u32 st[6];
    CHECK_EQ(shm_stat(s400, st), 0);
    CHECK_EQ(st[2], USER);                     /* owner = creator's uid */
    CHECK(!is_err((int)shm_attach(s400, 0, SHM_RDONLY)));
    CHECK_EQ(shm_attach(s400, 0, 0), -EACCES);
    CHECK_EQ(shm_attach(s066, 0, SHM_RDONLY), -EACCES);  /* others' bits don't apply */
    CHECK_EQ(shm_attach(s000, 0, SHM_RDONLY), -EACCES);
    CHECK_EQ(shm_destroy(s000), 0);            /* the owner may destroy */
}

static int child(void)
{
    CHECK_EQ(setuid(USER), 0);
    CHECK_EQ(getuid(), USER);
    CHECK_EQ(setuid(0), -EPERM);
    as_other();
    as_owner();
    return 0;
}

int main(int arg)
{
    if (arg)
        return child();
    int ids[4], modes[4] = { 0600, 0644, 0606, 0602 };
    u32 keys[4] = { 0x600, 0x644, 0x606, 0x602 };
    for (int i = 0; i < 4; i++) {
        ids[i] = shm_create(keys[i], 4096, modes[i]);
        CHECK(ids[i] > 0);
    }
    char *p = shm_attach(ids[1], 0, 0);
    p[0] = 'R';
    CHECK_EQ(shm_detach(p), 0);
    int status = -1;
    CHECK(wait(spawn("shm_perm_test", 1), &status) > 0);
    CHECK_EQ(status, 0);
    int s066 = shm_lookup(0x1066);
    CHECK(!is_err((int)shm_attach(s066, 0, 0)));        /* root: any mode */
    CHECK(!is_err((int)shm_attach(shm_lookup(0x1400), 0, 0)));
    CHECK_EQ(shm_destroy(s066), 0);            /* root destroys anyone's */
    CHECK_EQ(shm_destroy(shm_lookup(0x1400)), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(shm_destroy(ids[i]), 0);
    return 0;
}
