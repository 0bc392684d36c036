/* Bad arguments to calls 0-7 give docs/abi.md's -errno and change nothing.
 * arg 0: the checks; arg 1: exit with getuid(); arg 2: yield, exit 7. */
#include "ia32k.h"

extern char _end[];                 /* the end of .bss: its page is RW */
static const int rodata[2] = { 1, 2 };
static volatile char bss[64];

static char *first_unmapped(void)
{
    return (char *)(((u32)_end + 4095) & ~4095u);
}

static void check_write(char *hole)
{
    CHECK_EQ(write(1, "ok\n", 3), 3);
    CHECK_EQ(write(1, "", 0), 0);
    CHECK_EQ(write(0, "x", 1), -EBADF);
    CHECK_EQ(write(3, "x", 1), -EBADF);
    CHECK_EQ(write(-1, "x", 1), -EBADF);
    CHECK_EQ(write(7, 0, 1), -EBADF);             /* fd is checked first */
    hole[-2] = 'Q', hole[-1] = '\n';
    CHECK_EQ(write(1, hole - 2, 3), -EFAULT);     /* one byte past the end */
    CHECK_EQ(write(1, hole, 1), -EFAULT);
    CHECK_EQ(write(1, 0, 1), -EFAULT);
    CHECK_EQ(write(2, (void *)0xFFF, 1), -EFAULT);
    CHECK_EQ(write(1, (void *)0xC0000000, 1), -EFAULT);
    CHECK_EQ(write(1, (void *)0xBFFFFFFE, 4), -EFAULT);   /* into the kernel */
    CHECK_EQ(write(2, (void *)0xFFFFFFFF, 2), -EFAULT);   /* wraps */
    CHECK_EQ(write(1, (void *)0xBFFEFFFF, 2), -EFAULT);   /* below the stack */
    hole[-2] = 'Z';
    CHECK_EQ(write(1, hole - 2, 2), 2);           /* the last mapped bytes */
}

static void check_nosys(void)
{
    static const int bad[] = { 9, 99, 128, 1000, 0x7FFFFFFF, -1,
                               (int)0x80000000 };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(syscall3(bad[i], 1, 2, 3), -ENOSYS);
}

static void check_spawn(char *hole)
{
    CHECK_EQ(spawn("nosuch", 0), -ENOENT);
    CHECK_EQ(syscall3(SYS_SPAWN, (int)"sysargs", 0, 2), -ENOENT);
    CHECK_EQ(syscall3(SYS_SPAWN, (int)"sysargs", 6, 2), -ENOENT);  /* prefix */
    CHECK_EQ(syscall3(SYS_SPAWN, 0, 7, 2), -EFAULT);
    CHECK_EQ(syscall3(SYS_SPAWN, (int)hole - 3, 7, 2), -EFAULT);
    CHECK_EQ(syscall3(SYS_SPAWN, 0xC0000000, 7, 2), -EFAULT);
}

static void check_wait(char *hole)
{
    int me = getpid(), st = -1;
    CHECK_EQ(wait(-1, &st), -ECHILD);
    CHECK_EQ(wait(me, &st), -ECHILD);
    CHECK_EQ(wait(9999, &st), -ECHILD);
    CHECK_EQ(wait(0, &st), -ECHILD);
    CHECK_EQ(st, -1);
    int c = syscall3(SYS_SPAWN, (int)"sysargsXYZ", 7, 2);
    CHECK(c > me);
    CHECK_EQ(wait(c, (int *)rodata), -EFAULT);
    CHECK_EQ(wait(c, (int *)0xC0000000), -EFAULT);
    CHECK_EQ(wait(c, (int *)(hole - 2)), -EFAULT);
    CHECK_EQ(wait(-1, (int *)1), -EFAULT);
    CHECK_EQ(rodata[0], 1);
    CHECK_EQ(wait(c, (int *)0xBFFF0000), c);      /* an untouched stack page */
    CHECK_EQ(*(int *)0xBFFF0000, 7);
    CHECK_EQ(wait(c, &st), -ECHILD);              /* already reaped */
    c = spawn("sysargs", 2);
    CHECK_EQ(wait(-1, 0), c);                     /* status_ptr 0: no store */
}

static void check_uid(void)
{
    int st = -1;
    CHECK_EQ(getuid(), 0);
    CHECK_EQ(wait(spawn("sysargs", 1), &st) > 0, 1);
    CHECK_EQ(st, 0);
    CHECK_EQ(setuid(42), 0);
    CHECK_EQ(getuid(), 42);
    CHECK_EQ(wait(spawn("sysargs", 1), &st) > 0, 1);
    CHECK_EQ(st, 42);                             /* the child inherits it */
    CHECK_EQ(setuid(42), 0);                      /* its own uid: fine */
    CHECK_EQ(setuid(0), -EPERM);
    CHECK_EQ(setuid(43), -EPERM);
    CHECK_EQ(setuid(-1), -EPERM);
    CHECK_EQ(getuid(), 42);
}

int main(int arg)
{
    if (arg == 1)
        return getuid();
    if (arg == 2) {
        for (int i = 0; i < 3; i++)
            yield();
        return 7;
    }
    bss[0] = 1;
    char *hole = first_unmapped();
    check_write(hole);
    check_nosys();
    check_spawn(hole);
    check_wait(hole);
    check_uid();
    printf("sysargs: ok\n");
    return 0;
}
