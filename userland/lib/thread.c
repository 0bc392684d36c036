/* Threads: a C function on a stack the caller allocated. */
#include "ia32k.h"

/* The kernel starts a thread here with ESP at the two words thread_create
 * left on its stack: the function, then its argument. The call pushes a
 * return address, so the function finds its argument where cdecl puts it;
 * its result becomes the thread's exit status. */
#define STR(x) #x
#define XSTR(x) STR(x)
__asm__(".globl _thread_start\n_thread_start:\n"
        "  pop %ecx\n  call *%ecx\n  mov %eax, %ebx\n"
        "  mov $" XSTR(SYS_THREAD_EXIT) ", %eax\n  int $0x80\n  hlt\n");
void _thread_start(void);

int thread_create(thread_fn fn, void *arg, void *stack, size_t size)
{
    u32 *top = (u32 *)(((u32)stack + size) & ~15u);
    *--top = 0;                 /* padding: the argument stays aligned */
    *--top = (u32)arg;
    *--top = (u32)fn;
    return syscall3(SYS_THREAD_CREATE, (int)_thread_start, (int)top, 0);
}

void thread_exit(int status)
{
    syscall3(SYS_THREAD_EXIT, status, 0, 0);
    for (;;)
        ;
}

int thread_join(int tid, int *status)
{
    return syscall3(SYS_THREAD_JOIN, tid, (int)status, 0);
}

int gettid(void) { return syscall3(SYS_GETTID, 0, 0, 0); }
