"""A digest of everything a program or a debugger can observe of a
machine at a stop: the registers of every thread, all of RAM, and the
kernel's tables (processes, run queue, frames, shared memory segments,
mailboxes and futex sleepers). Two stops with equal digests are the same
moment of a run, however each was reached."""

import hashlib
from collections import deque
from enum import Enum

from tools.debug.processes import REGISTERS

DEPTH = 4                        # how deep plain() follows an object


def state_hash(k, procs):
    """The digest of kernel k (procs: its tools/debug/processes.Processes)."""
    h = hashlib.sha256()
    h.update(bytes(k.hw.mem))
    h.update(bytes(k.frames.ref))
    h.update(bytes(k.frames.free_map))
    h.update(repr(tables(k, procs)).encode())
    return h.hexdigest()


def tables(k, procs):
    """The kernel's tables as plain, ordered data."""
    return {
        "count": k.hw.instructions,
        "procs": [(p.pid, p.name, p.state.name, p.status, p.parent,
                   list(p.children), plain(p.fault),
                   [thread(t, procs) for t in p.threads.values()])
                  for p in k.procs],
        "runq": [t.tid for t in k.procs.runq],
        "frames": (k.frames.nfree, k.stats.page_faults,
                   k.stats.context_switches, k.stats.syscalls),
        "shm": [plain(s) for s in k.shm.in_order()],
        "ipc": plain({"boxes": k.ipc.boxes, "futexes": k.ipc.futexes,
                      "held": k.ipc.held}),
    }


def thread(t, procs):
    """A thread as plain data: its tid, state, wait and registers."""
    regs = [procs.read_register(t.tid, r) for r in REGISTERS] \
        if t.alive else None
    return (t.tid, t.state.name, t.status, plain(t.wait_on), regs)


def plain(x, depth=DEPTH):
    """x as nested tuples of numbers and text: a process is its pid, a
    thread its tid, and no object's identity (its address) shows."""
    if x is None or isinstance(x, (bool, int, str, bytes, float)):
        return x
    if isinstance(x, Enum):
        return x.name
    if hasattr(x, "pid") and hasattr(x, "aspace"):
        return ("pid", x.pid)
    if hasattr(x, "tid") and hasattr(x, "proc"):
        return ("tid", x.tid)
    if depth == 0:
        return type(x).__name__
    if isinstance(x, dict):
        return tuple(sorted((repr(plain(a, depth - 1)),
                             plain(b, depth - 1)) for a, b in x.items()))
    if isinstance(x, (list, tuple, deque)):
        return tuple(plain(v, depth - 1) for v in x)
    if isinstance(x, (set, frozenset)):
        return tuple(sorted(repr(plain(v, depth - 1)) for v in x))
    if hasattr(x, "__dict__"):
        return (type(x).__name__,) + tuple(
            (a, plain(v, depth - 1)) for a, v in sorted(vars(x).items())
            if a not in ("k", "kernel", "vm", "hw"))
    return type(x).__name__
