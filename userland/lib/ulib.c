/* The user library: entry point, system call stubs, string helpers, printf. */
#include <stdarg.h>
#include "ia32k.h"

static inline int syscall5(int n, int a, int b, int c, int d, int e)
{
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c),
                     "S"(d), "D"(e) : "memory");
    return r;
}

/* The kernel enters here with EAX = the spawn argument. */
__asm__(".globl _start\n_start:\n"
        "  push %eax\n  call main\n  push %eax\n  call exit\n");

void exit(int status)
{
    syscall3(SYS_EXIT, status, 0, 0);
    for (;;)
        ;
}

int write(int fd, const void *buf, size_t len) { return syscall3(SYS_WRITE, fd, (int)buf, len); }
int getpid(void) { return syscall3(SYS_GETPID, 0, 0, 0); }
int yield(void) { return syscall3(SYS_YIELD, 0, 0, 0); }
int spawn(const char *name, int arg) { return syscall3(SYS_SPAWN, (int)name, strlen(name), arg); }
int wait(int pid, int *status) { return syscall3(SYS_WAIT, pid, (int)status, 0); }
int getuid(void) { return syscall3(SYS_GETUID, 0, 0, 0); }
int setuid(int uid) { return syscall3(SYS_SETUID, uid, 0, 0); }
int fork(void) { return syscall3(SYS_FORK, 0, 0, 0); }
int shm_create(u32 key, size_t size, int mode) { return syscall3(SYS_SHM_CREATE, key, size, mode); }
int shm_lookup(u32 key) { return syscall3(SYS_SHM_LOOKUP, key, 0, 0); }
void *shm_attach(int id, void *addr, int flags) { return (void *)syscall3(SYS_SHM_ATTACH, id, (int)addr, flags); }
int shm_detach(void *addr) { return syscall3(SYS_SHM_DETACH, (int)addr, 0, 0); }
int shm_destroy(int id) { return syscall3(SYS_SHM_DESTROY, id, 0, 0); }
int shm_stat(int id, u32 buf[6]) { return syscall3(SYS_SHM_STAT, id, (int)buf, 0); }
int send(int pid, const void *buf, size_t len) { return syscall3(SYS_SEND, pid, (int)buf, len); }
int recv(void *buf, size_t len, int *from) { return syscall3(SYS_RECV, (int)buf, len, (int)from); }
int futex_wait(volatile u32 *addr, u32 expected) { return syscall5(SYS_FUTEX_WAIT, (int)addr, expected, 0, 0, 0); }
int mprotect(void *addr, size_t len, int prot) { return syscall3(SYS_MPROTECT, (int)addr, len, prot); }
int futex_wake(volatile u32 *addr, u32 n) { return syscall5(SYS_FUTEX_WAKE, (int)addr, n, 0, 0, 0); }

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    char *d = dst;
    while (n--)
        *d++ = (char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

/* printf into a buffer, flushed with one write() per call. */
struct out { char buf[512]; int n; int fd; };

static void put(struct out *o, char c)
{
    if (o->n == sizeof o->buf) {
        write(o->fd, o->buf, o->n);
        o->n = 0;
    }
    o->buf[o->n++] = c;
}

static void putnum(struct out *o, u32 v, int base, int neg, int width, char pad)
{
    char tmp[12];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[i++] = '-';
    while (width-- > i)
        put(o, pad);
    while (i)
        put(o, tmp[--i]);
}

static int vprint(int fd, const char *fmt, va_list ap)
{
    struct out o = { .n = 0, .fd = fd };
    for (; *fmt; fmt++) {
        if (*fmt != '%') { put(&o, *fmt); continue; }
        fmt++;
        char pad = ' ';
        int width = 0;
        if (*fmt == '0') { pad = '0'; fmt++; }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        switch (*fmt) {
        case 'd': { int v = va_arg(ap, int);
                    putnum(&o, v < 0 ? -(u32)v : (u32)v, 10, v < 0, width, pad); break; }
        case 'u': putnum(&o, va_arg(ap, u32), 10, 0, width, pad); break;
        case 'x': putnum(&o, va_arg(ap, u32), 16, 0, width, pad); break;
        case 'p': put(&o, '0'); put(&o, 'x');
                  putnum(&o, va_arg(ap, u32), 16, 0, 8, '0'); break;
        case 'c': put(&o, (char)va_arg(ap, int)); break;
        case 's': { const char *s = va_arg(ap, const char *);
                    int len = strlen(s ? s : "(null)");
                    while (width-- > len) put(&o, ' ');
                    for (s = s ? s : "(null)"; *s; s++) put(&o, *s);
                    break; }
        case '%': put(&o, '%'); break;
        default: put(&o, '%'); put(&o, *fmt); break;
        }
    }
    if (o.n)
        write(fd, o.buf, o.n);
    return 0;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vprint(1, fmt, ap);
    va_end(ap);
    return r;
}

int eprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vprint(2, fmt, ap);
    va_end(ap);
    return r;
}
