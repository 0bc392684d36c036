/* mprotect (call 16), one case per arg. 0: every error status and the
   rights a kernel copy sees; 1: no access, a read faults; 2: read-only, a
   write faults; 3: read-only, read works, then write again; 4: a page
   still shared copy-on-write with a fork child stays copy-on-write when
   given write back; 5: execute: a jump into a read-only page (faults
   under PAE only); 6: an untouched stack page made read-only is filled
   read-only; 7: the rights survive fork. */
#include "ia32k.h"

static char buf[3 * 4096] __attribute__((aligned(4096)));
static volatile u32 *const word = (volatile u32 *)buf;

static void errors(void)
{
    CHECK_EQ(mprotect(buf + 1, 4096, PROT_READ), -EINVAL);
    CHECK_EQ(mprotect(buf, 0, PROT_READ), -EINVAL);
    CHECK_EQ(mprotect(buf, 4096, 8), -EINVAL);
    CHECK_EQ(mprotect((void *)0x20000000, 4096, PROT_READ), -EINVAL);
    CHECK_EQ(mprotect((void *)0xBFFFF000, 0x2000, PROT_READ), -EINVAL);
    /* text: no write (-EACCES), unless the range is also bad (-EINVAL) */
    char *text = (char *)((u32)errors & ~0xFFFu);
    CHECK_EQ(mprotect(text, 4096, PROT_READ | PROT_WRITE), -EACCES);
    CHECK_EQ(mprotect(text, 0x10000000, PROT_WRITE), -EINVAL);
    CHECK_EQ(mprotect(text, 4096, PROT_READ | PROT_EXEC), 0);
    int id = shm_create(0, 8192, 0600);
    char *ro = shm_attach(id, 0, SHM_RDONLY);
    CHECK(!is_err((int)ro));
    CHECK_EQ(mprotect(ro, 4096, PROT_WRITE), -EACCES);
    CHECK_EQ(mprotect(ro, 8192, PROT_READ), 0);
    char *rw = shm_attach(id, 0, 0);
    CHECK_EQ(mprotect(rw + 4096, 4096, PROT_READ), 0);
    rw[0] = 1;                           /* the first page stays writable */
    CHECK_EQ(ro[0], 1);
    CHECK_EQ(shm_detach(rw), 0);
    CHECK_EQ(shm_detach(ro), 0);
    shm_destroy(id);
    /* a kernel copy obeys the rights as the CPU would */
    word[0] = 0x41;
    CHECK_EQ(mprotect(buf, 4096, PROT_NONE), 0);
    CHECK_EQ(write(1, buf, 1), -EFAULT);
    CHECK_EQ(mprotect(buf, 4096, PROT_READ), 0);
    CHECK_EQ(write(1, buf, 1), 1);
    CHECK_EQ(wait(-1, (int *)buf), -ECHILD);     /* no child: checked first */
    int pid = fork();
    if (pid == 0)
        exit(3);
    CHECK_EQ(wait(pid, (int *)buf), -EFAULT);    /* not writable */
    CHECK_EQ(mprotect(buf, 3 * 4096, PROT_READ | PROT_WRITE), 0);
    CHECK_EQ(wait(pid, (int *)buf), pid);
    CHECK_EQ(word[0], 3);
    printf("\nmprotect_rules: ok\n");
}

int main(int arg)
{
    int pid, status = -1;
    switch (arg) {
    case 0:
        errors();
        return 0;
    case 1:
        word[0] = 5;
        CHECK_EQ(mprotect(buf, 4096, PROT_NONE), 0);
        return word[0];                  /* faults */
    case 2:
        CHECK_EQ(mprotect(buf, 4096, PROT_READ), 0);
        word[0] = 1;                     /* faults */
        return 0;
    case 3:
        word[0] = 5;
        CHECK_EQ(mprotect(buf, 4096, PROT_READ), 0);
        CHECK_EQ(word[0], 5);
        CHECK_EQ(mprotect(buf, 4096, PROT_READ | PROT_WRITE), 0);
        word[0] = 6;
        return word[0];
    case 4:
        word[0] = 5;
        pid = fork();
        if (pid == 0) {
            CHECK_EQ(mprotect(buf, 4096, PROT_READ), 0);
            CHECK_EQ(mprotect(buf, 4096, PROT_READ | PROT_WRITE), 0);
            word[0] = 9;                 /* a copy-on-write break */
            exit(word[0]);
        }
        CHECK_EQ(wait(pid, &status), pid);
        CHECK_EQ(status, 9);
        return word[0];                  /* still 5 */
    case 5:
        buf[0] = (char)0xC3;             /* ret */
        CHECK_EQ(mprotect(buf, 4096, PROT_READ), 0);
        ((void (*)(void))buf)();         /* NX under PAE */
        CHECK_EQ(mprotect(buf, 4096, PROT_READ | PROT_EXEC), 0);
        ((void (*)(void))buf)();
        return 0;
    case 6:
        CHECK_EQ(mprotect((void *)0xBFFF0000, 4096, PROT_READ), 0);
        CHECK_EQ(*(volatile u32 *)0xBFFF0000, 0);
        *(volatile u32 *)0xBFFF0000 = 1; /* faults */
        return 0;
    case 7:
        CHECK_EQ(mprotect(buf, 4096, PROT_READ), 0);
        pid = fork();
        if (pid == 0) {
            word[0] = 1;                 /* faults in the child */
            exit(0);
        }
        CHECK_EQ(wait(pid, &status), pid);
        return status;
    }
    return 1;
}
