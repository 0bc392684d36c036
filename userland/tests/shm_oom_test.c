/* Physical memory runs out (run with --memory 8M): the shm quota fills
 * (-ENOMEM from create), then page tables for more attachments cannot be
 * had (-ENOMEM from attach, nothing half-mapped), then a child's demand-zero
 * touch finds no frame and the child is killed with a page fault (270).
 * Freeing the segments makes memory usable again. */
#include "ia32k.h"

#define KEY 0x00e
#define CHUNK (64u << 10)

struct flags { volatile int ready, go; };

static int child(int arg)
{
    if (arg == 2)
        return 0;                              /* spawned after recovery */
    char *p = shm_attach(shm_lookup(KEY), (void *)0x30000000, 0);
    struct flags *f = (struct flags *)p;       /* page 0: its page table exists now */
    f->ready = 1;
    while (!f->go)
        yield();
    p[4096] = 1;                               /* page 1: no frame left: 270 */
    return 1;
}

static int fill_quota(int *ids, char **addrs)
{
    int n = 0;
    for (u32 size = CHUNK; size >= 4096; size /= 2) {
        int id;
        while ((id = shm_create(0, size, 0600)) > 0) {
            char *p = shm_attach(id, 0, 0);
            CHECK(!is_err((int)p));
            for (u32 off = 0; off < size; off += 4096)
                p[off] = 1;                    /* take every frame */
            addrs[n] = p;
            ids[n++] = id;
        }
        CHECK_EQ(id, -ENOMEM);
    }
    return n;
}

static int alias_until_enomem(int id)
{
    int n = 0;
    for (u32 a = 0x00800000; a < 0xbf800000; a += 0x400000) {
        int r = (int)shm_attach(id, (void *)a, 0);   /* one new page table each */
        if (r == -ENOMEM)
            return n;
        CHECK(r == (int)a || r == -EINVAL);    /* -EINVAL: a is taken */
        n += r == (int)a;
    }
    CHECK(0);                                  /* memory never ran out */
    return n;
}

int main(int arg)
{
    static int ids[4096];
    static char *addrs[4096];
    u32 st[6];
    if (arg)
        return child(arg);
    int shared = shm_create(KEY, 8192, 0600);
    struct flags *f = shm_attach(shared, 0, 0);
    int pid = spawn("shm_oom_test", 1);
    while (!f->ready)
        yield();
    int n = fill_quota(ids, addrs);
    int aliases = alias_until_enomem(shared);
    CHECK_EQ(shm_stat(shared, st), 0);
    CHECK_EQ(st[4], 2 + aliases);              /* no half-made attachment */
    CHECK(spawn("shm_oom_test", 2) < 0);       /* no room for a process */
    f->go = 1;
    int status = -1;
    CHECK_EQ(wait(pid, &status), pid);
    CHECK_EQ(status, 270);
    printf("oom: %d segments fill the quota, %d aliases fill RAM, child status %d\n",
           n, aliases, status);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(shm_destroy(ids[i]), 0);
        CHECK_EQ(shm_detach(addrs[i]), 0);     /* the last detach frees */
    }
    CHECK_EQ(shm_destroy(shared), 0);          /* still attached: at exit */
    pid = spawn("shm_oom_test", 2);            /* memory is usable again */
    CHECK(pid > 0);
    CHECK_EQ(wait(pid, &status), pid);
    CHECK_EQ(status, 0);
    return 0;
}
