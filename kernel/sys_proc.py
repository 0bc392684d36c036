"""Process system calls: exit, write, getpid, yield, spawn, wait, getuid,
setuid (ABI.md calls 0-7). Thin: validate, call the kernel, return."""

import struct

from kernel.syscall import BLOCKED, NORETURN, SWITCH, Errno, Sys, s32, syscall
from kernel.vm import UserFault
from emu.walk import WRITE

MAX_NAME = 256


@syscall(Sys.EXIT)
def sys_exit(k, p, status, *_):
    k.exit_process(p, s32(status))
    return NORETURN


@syscall(Sys.WRITE)
def sys_write(k, p, fd, buf, n, *_):
    if fd not in (1, 2):
        return -Errno.EBADF
    try:
        data = p.aspace.copyin(buf, n)
    except UserFault:
        return -Errno.EFAULT
    k.console.write(fd, data)
    return n


@syscall(Sys.GETPID)
def sys_getpid(k, p, *_):
    return p.pid


@syscall(Sys.YIELD)
def sys_yield(k, p, *_):
    return SWITCH


@syscall(Sys.SPAWN)
def sys_spawn(k, p, name_va, name_len, arg, *_):
    if name_len > MAX_NAME:
        return -Errno.ENOENT
    try:
        name = p.aspace.copyin(name_va, name_len)
    except UserFault:
        return -Errno.EFAULT
    child = k.create_process(name.decode("latin-1"), parent=p, arg=arg)
    return child if isinstance(child, int) else child.pid


@syscall(Sys.WAIT)
def sys_wait(k, p, pid, status_ptr, *_):
    pid = s32(pid)
    kids = [k.procs.get(c) for c in p.children]
    kids = [c for c in kids if not c.reaped and (pid == -1 or c.pid == pid)]
    if not kids:
        return -Errno.ECHILD
    if status_ptr:
        try:
            p.aspace.check(status_ptr, 4, WRITE)
        except UserFault:
            return -Errno.EFAULT
    for c in kids:
        if not c.alive:
            return _reap(k, p, c, status_ptr)
    what = "wait for any child" if pid == -1 else f"wait for child {pid}"
    k.block(p, "wait", what, key=pid,
            resume=lambda parent, child: _reap(k, parent, child, status_ptr))
    return BLOCKED


def _reap(k, parent, child, status_ptr):
    """Store child's status for parent and free its table slot."""
    k.notify("wait", parent, child)
    if status_ptr:
        parent.aspace.copyout(status_ptr,
                              struct.pack("<i", child.status))
    child.reaped = True
    return child.pid


@syscall(Sys.GETUID)
def sys_getuid(k, p, *_):
    return p.uid


@syscall(Sys.SETUID)
def sys_setuid(k, p, uid, *_):
    if p.uid != 0 and uid != p.uid:
        return -Errno.EPERM
    p.uid = uid
    return 0
