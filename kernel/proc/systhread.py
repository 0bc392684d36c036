"""Thread system calls (docs/abi.md calls 40-43): thread_create,
thread_exit, thread_join, gettid. Thin: validate, call the kernel."""

import struct

from kernel.memlayout import USER_END, USER_LOW
from kernel.mm.vm import UserFault
from kernel.proc.process import WaitKind
from kernel.proc.thread import Thread
from kernel.syscall import BLOCKED, NORETURN, Errno, s32


def sys_thread_create(k, p, entry, stack_top, arg, *_):
    """A new thread of p at entry, ESP stack_top, EAX arg; its tid."""
    if not USER_LOW <= entry < USER_END or \
            not USER_LOW <= stack_top <= USER_END:
        return -Errno.EINVAL
    if k.procs.full():
        return -Errno.EAGAIN
    tid = k.procs.new_pid()
    t = Thread(tid, p, k.user_context(p.aspace, entry, stack_top, arg))
    k.stats.threads_created += 1
    k.notify("thread_create", k.thread, t)
    k.procs.add_thread(t)
    return tid


def sys_thread_exit(k, p, status, *_):
    k.end_thread(k.thread, s32(status))
    return NORETURN


def sys_thread_join(k, p, tid, status_ptr, *_):
    """Checks, in order: tid (-ESRCH, -EDEADLK), status_ptr (-EFAULT);
    then reaps an ended thread or sleeps until it ends."""
    t = k.procs.thread(s32(tid))
    if t is None or t.proc is not p or t.joined:
        return -Errno.ESRCH
    if t is k.thread:
        return -Errno.EDEADLK
    if status_ptr and not p.aspace.writable(status_ptr, 4):
        return -Errno.EFAULT
    joiner = k.thread
    if not t.alive:
        return _reap(k, p, joiner, t, status_ptr)
    k.block(joiner, WaitKind.JOIN, f"join thread {t.tid}", key=t.tid,
            resume=lambda ended: _reap(k, p, joiner, ended, status_ptr))
    return BLOCKED


def _reap(k, p, joiner, t, status_ptr):
    """Store ended thread t's status for joiner; 0, or -ESRCH when another
    joiner took it first."""
    if t.joined:
        return -Errno.ESRCH
    if status_ptr:
        try:
            p.aspace.copyout(status_ptr, struct.pack("<i", t.status))
        except UserFault:
            return -Errno.EFAULT
    k.procs.joined(t)
    k.notify("thread_join", joiner, t)
    return 0


def sys_gettid(k, p, *_):
    return k.thread.tid
