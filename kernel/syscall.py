"""System call numbers, errno values and the results a handler returns
besides an int (a result, or -errno).

The numbers are docs/abi.md's; kernel.systable maps each to its handler.
"""

import enum


class Sys(enum.IntEnum):
    EXIT = 0
    WRITE = 1
    GETPID = 2
    YIELD = 3
    SPAWN = 4
    WAIT = 5
    GETUID = 6
    SETUID = 7
    FORK = 8
    SHM_CREATE = 10
    SHM_LOOKUP = 11
    SHM_ATTACH = 12
    SHM_DETACH = 13
    SHM_DESTROY = 14
    SHM_STAT = 15
    MPROTECT = 16
    SEND = 20
    RECV = 21
    FUTEX_WAIT = 30
    FUTEX_WAKE = 31
    THREAD_CREATE = 40
    THREAD_EXIT = 41
    THREAD_JOIN = 42
    GETTID = 43


class Errno(enum.IntEnum):
    EPERM = 1
    ENOENT = 2
    ESRCH = 3
    EBADF = 9
    ECHILD = 10
    EAGAIN = 11
    ENOMEM = 12
    EACCES = 13
    EFAULT = 14
    EEXIST = 17
    EINVAL = 22
    ENOSPC = 28
    EDEADLK = 35
    ENOSYS = 38
    EIDRM = 43


BLOCKED = object()       # the caller sleeps; its result comes at wake-up
NORETURN = object()      # the caller is gone (exit)
SWITCH = object()        # result already set; run someone else (yield)
RESTART = object()       # not done: run someone else, then re-execute the
                         # caller's int 0x80, which continues the call


def s32(v):
    """An argument register read as a signed 32-bit value."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v
