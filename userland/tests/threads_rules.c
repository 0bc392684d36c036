/* Threads (calls 40-43): every rule of the ABI's table, one case per arg.
   0: create/join/gettid/getpid and every error status; 1: exit from a
   thread ends every thread; 2: a fault in a thread kills the process;
   3: fork from a thread; 4: the last thread's thread_exit is the
   process's exit; 5: a futex mutex between threads; 6: two threads
   joining each other deadlock. */
#include "ia32k.h"
#include "sync.h"

#define STACK 4096
static char stacks[8][STACK];
static volatile u32 flag;
static mutex_t m = MUTEX_INIT;
static u32 counter;

static int child_ids(void *arg)
{
    u32 *out = arg;
    out[0] = gettid();
    out[1] = getpid();
    return 42;
}

static int spin_forever(void *arg)
{
    (void)arg;
    flag = 1;
    for (;;)
        yield();
}

static int exit_all(void *arg)
{
    (void)arg;
    while (!flag)
        yield();
    exit(9);                             /* ends main too */
}

static int fault(void *arg)
{
    (void)arg;
    while (!flag)
        yield();
    *(volatile u32 *)0x10 = 1;           /* page 0: never mapped */
    return 0;
}

static int forker(void *arg)
{
    (void)arg;
    int pid = fork();
    if (pid == 0) {                      /* a copy of this thread only */
        CHECK_EQ(gettid(), getpid());
        exit(5);
    }
    int status = -1;
    CHECK_EQ(wait(pid, &status), pid);
    return status;
}

static int locker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        mutex_lock(&m);
        u32 v = counter;
        yield();                         /* the other must wait here */
        counter = v + 1;
        mutex_unlock(&m);
    }
    return 0;
}

static volatile int main_tid, other_tid;
static int join_main(void *arg)
{
    (void)arg;
    other_tid = gettid();
    return thread_join(main_tid, 0);
}

static void rules(void)
{
    u32 ids[2] = {0, 0};
    int me = gettid();
    CHECK_EQ(me, getpid());
    int t = thread_create(child_ids, ids, stacks[0], STACK);
    CHECK(t > me);
    int status = -1;
    CHECK_EQ(thread_join(t, (int *)0x10), -EFAULT);    /* checked first */
    CHECK_EQ(thread_join(t, &status), 0);
    CHECK_EQ(status, 42);
    CHECK_EQ(ids[0], t);
    CHECK_EQ(ids[1], me);
    CHECK_EQ(thread_join(t, &status), -ESRCH);         /* already joined */
    CHECK_EQ(thread_join(me, &status), -EDEADLK);
    CHECK_EQ(thread_join(9999, &status), -ESRCH);
    CHECK_EQ(syscall3(SYS_THREAD_CREATE, 0, 0xC0000000, 0), -EINVAL);
    CHECK_EQ(syscall3(SYS_THREAD_CREATE, 0xC0000000, 0xC0000000, 0), -EINVAL);
    CHECK_EQ(syscall3(SYS_THREAD_CREATE, 0x1000, 0xC0000004, 0), -EINVAL);
    int pid = fork();                    /* another process's tid */
    if (pid == 0)
        exit(0);
    CHECK_EQ(thread_join(pid, 0), -ESRCH);
    CHECK_EQ(wait(pid, 0), pid);
    int u = thread_create(child_ids, ids, stacks[1], STACK);
    CHECK_EQ(u, pid + 1);                /* one counter, never reused */
    CHECK_EQ(thread_join(u, 0), 0);
    printf("threads_rules: ok\n");
}

int main(int arg)
{
    int status = -1, t;
    switch (arg) {
    case 0:
        rules();
        return 0;
    case 1:
        thread_create(spin_forever, 0, stacks[0], STACK);
        thread_create(exit_all, 0, stacks[1], STACK);
        for (;;)
            yield();
    case 2:
        thread_create(spin_forever, 0, stacks[0], STACK);
        t = thread_create(fault, 0, stacks[1], STACK);
        thread_join(t, 0);
        return 0;                        /* never: the fault ends it */
    case 3:
        t = thread_create(forker, 0, stacks[0], STACK);
        CHECK_EQ(thread_join(t, &status), 0);
        CHECK_EQ(status, 5 << 0);
        return 0;
    case 4:
        t = thread_create(child_ids, (u32[2]){0, 0}, stacks[0], STACK);
        thread_exit(7);                  /* main goes first; t's 42 ends it */
    case 5: {
        int a = thread_create(locker, 0, stacks[0], STACK);
        int b = thread_create(locker, 0, stacks[1], STACK);
        CHECK_EQ(thread_join(a, 0), 0);
        CHECK_EQ(thread_join(b, 0), 0);
        printf("threads_rules: counter %d\n", counter);
        return counter == 4000 ? 0 : 1;
    }
    case 6:
        main_tid = gettid();
        t = thread_create(join_main, 0, stacks[0], STACK);
        while (!other_tid)
            yield();
        for (int i = 0; i < 10; i++)
            yield();
        thread_join(t, 0);               /* each joins the other */
        return 0;
    }
    return 1;
}
