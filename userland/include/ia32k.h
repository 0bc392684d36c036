/* ia32k user library: system calls (docs/abi.md) and a tiny libc. */
#ifndef IA32K_H
#define IA32K_H
#include "syscalls.h"

typedef unsigned int u32;
typedef unsigned long size_t;

/* Raw system call: EAX = number, EBX, ECX, EDX, ESI, EDI = arguments. */
static inline int syscall3(int n, int a, int b, int c)
{
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c)
                     : "memory");
    return r;
}

void exit(int status) __attribute__((noreturn));
int write(int fd, const void *buf, size_t len);
int getpid(void);
int yield(void);
int spawn(const char *name, int arg);
int wait(int pid, int *status);
int getuid(void);
int setuid(int uid);
int fork(void);    /* the child's pid in the caller, 0 in the child */
int shm_create(u32 key, size_t size, int mode);
int shm_lookup(u32 key);
void *shm_attach(int id, void *addr, int flags);
int shm_detach(void *addr);
int shm_destroy(int id);
int shm_stat(int id, u32 buf[6]);
int send(int pid, const void *buf, size_t len);
int recv(void *buf, size_t len, int *from);
int futex_wait(volatile u32 *addr, u32 expected);
int futex_wake(volatile u32 *addr, u32 n);
int mprotect(void *addr, size_t len, int prot);   /* PROT_* bits */
#define PROT_NONE 0
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4

/* Threads (userland/lib/thread.c). thread_create runs fn(arg) in a new
 * thread of this process on the caller's stack memory [stack, stack +
 * size); the thread ends with fn's result as its status (or earlier, by
 * thread_exit). Returns the new tid or -errno. */
typedef int (*thread_fn)(void *arg);
int thread_create(thread_fn fn, void *arg, void *stack, size_t size);
void thread_exit(int status) __attribute__((noreturn));
int thread_join(int tid, int *status);   /* 0, or -ESRCH/-EDEADLK/-EFAULT */
int gettid(void);

/* Results in -4095..-1 are -errno; shm_attach may return addresses >= 2 GiB. */
static inline int is_err(int r) { return r < 0 && r >= -4095; }

size_t strlen(const char *s);
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
int strcmp(const char *a, const char *b);
int printf(const char *fmt, ...);
int eprintf(const char *fmt, ...);

/* Checks for test programs: print what failed and exit 1. */
#define CHECK(cond) do { if (!(cond)) { \
    eprintf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    exit(1); } } while (0)
#define CHECK_EQ(a, b) do { int _a = (int)(a), _b = (int)(b); if (_a != _b) { \
    eprintf("%s:%d: %s == %d, expected %d\n", __FILE__, __LINE__, #a, _a, _b); \
    exit(1); } } while (0)

int main(int arg);
#endif
