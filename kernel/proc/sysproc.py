"""Process system calls: exit, write, getpid, yield, spawn, wait, getuid,
setuid (docs/abi.md calls 0-7). Thin: validate, call the kernel, return."""

import struct
from dataclasses import dataclass

from kernel.syscall import BLOCKED, NORETURN, RESTART, SWITCH, Errno, s32
from kernel.mm.vm import UserFault
from kernel.proc.process import WaitKind
from emu.walk import READ

MAX_NAME = 256
WRITE_COPY = 64 << 10            # a write up to this long: one copy-in
WRITE_SLICE = 1024               # pages a long write walks per turn (~5 ms)


def sys_exit(k, p, status, *_):
    """Ends every thread of p."""
    k.exit_process(p, s32(status))
    return NORETURN


def sys_write(k, p, fd, buf, n, *_):
    if fd not in (1, 2):
        return -Errno.EBADF
    if n > WRITE_COPY:
        return _long_write(k, p, fd, buf, n)
    try:
        data = p.aspace.copyin(buf, n)
    except UserFault:
        return -Errno.EFAULT
    k.console.write(fd, data)
    return n


@dataclass
class LongWrite:
    """A write too long for one turn: first every page is checked readable
    (nothing is written unless all of it is), then streamed out page by
    page from guest RAM, so the kernel never holds the buffer."""
    args: tuple                  # (fd, buf, n): the call it belongs to
    checked: int = 0             # bytes known readable
    written: int = 0             # bytes written out


def _long_write(k, p, fd, buf, n):
    """Walk at most WRITE_SLICE pages, then let others run (RESTART): the
    caller re-executes its int 0x80 with the same registers and continues
    where it stopped. Returns n, -EFAULT (nothing written) or RESTART."""
    t = k.thread
    job = t.cont
    if not (isinstance(job, LongWrite) and job.args == (fd, buf, n)):
        job = t.cont = LongWrite((fd, buf, n))
    budget = WRITE_SLICE
    try:
        budget = _stream(job, p.aspace.pages(buf + job.checked, n -
                                               job.checked, READ),
                         "checked", budget, None)
    except UserFault:
        t.cont = None
        return -Errno.EFAULT
    if budget:
        mem = k.hw.mem
        budget = _stream(job, p.aspace.pages(buf + job.written, n -
                                               job.written, READ),
                         "written", budget,
                         lambda pa, ln: k.console.write(fd, mem[pa:pa + ln]))
    if job.written < n:
        return RESTART
    t.cont = None
    return n


def _stream(job, pages, field, budget, out):
    """Advance job.<field> over up to budget pages; return what is left."""
    for pa, length in pages:
        if out:
            out(pa, length)
        setattr(job, field, getattr(job, field) + length)
        budget -= 1
        if not budget:
            break
    return budget


def sys_getpid(k, p, *_):
    return p.pid


def sys_yield(k, p, *_):
    return SWITCH


def sys_spawn(k, p, name_va, name_len, arg, *_):
    if name_len > MAX_NAME:
        return -Errno.ENOENT
    try:
        name = p.aspace.copyin(name_va, name_len)
    except UserFault:
        return -Errno.EFAULT
    child = k.create_process(name.decode("latin-1"), parent=p, arg=arg)
    return child if isinstance(child, int) else child.pid


def sys_wait(k, p, pid, status_ptr, *_):
    pid = s32(pid)
    kids = [k.procs.get(c) for c in p.children]
    kids = [c for c in kids if not c.reaped and (pid == -1 or c.pid == pid)]
    if not kids:
        return -Errno.ECHILD
    if status_ptr and not p.aspace.writable(status_ptr, 4):
        return -Errno.EFAULT
    for c in kids:
        if not c.alive:
            return _reap(k, p, c, status_ptr)
    what = "wait for any child" if pid == -1 else f"wait for child {pid}"
    k.block(k.thread, WaitKind.WAIT, what, key=pid,
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


def sys_getuid(k, p, *_):
    return p.uid


def sys_setuid(k, p, uid, *_):
    if p.uid != 0 and uid != p.uid:
        return -Errno.EPERM
    p.uid = uid
    return 0
