"""A system-call trace (--strace): one line per call, as it returns: who
made it (pid, and tid when not the process's first thread), the call's
name, its arguments decoded (the bytes of a string or buffer the call
reads, shown briefly), and its result with the errno name. A call that blocks shows
"<blocks>", and a later "<... NAME resumed>" line when its result comes
(wait, recv, futex_wait). Text, or JSON lines."""

import functools
import inspect
import json

from kernel.mm.access import Agent, Intent, access
from kernel.mm.vm import UserFault
from kernel.syscall import Errno, Sys
from kernel.systable import SYSCALLS

SHOWN_BYTES = 32
# call -> (argument holding a buffer the call reads, argument of its length)
INPUT_BUFFERS = {"write": (1, 2), "send": (1, 2), "spawn": (0, 1)}
POINTERS = ("buf", "addr", "name_va", "status_ptr", "from_ptr")


def call_name(num):
    return Sys(num).name.lower() if num in Sys._value2member_map_ \
        else f"syscall_{num}"


@functools.lru_cache(maxsize=None)
def parameters(num):
    """The argument names of call num (its handler's parameters)."""
    handler = SYSCALLS.get(num)
    if handler is None:
        return []
    params = list(inspect.signature(handler).parameters.values())[2:]
    return tuple(q.name for q in params if q.kind is q.POSITIONAL_OR_KEYWORD)


def s32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def errno_name(r):
    """'EFAULT' for -14; None for anything else."""
    if r is not None and r < 0 and -r in Errno._value2member_map_:
        return Errno(-r).name
    return None


def result_text(r):
    name = errno_name(r)
    return f"{r} {name}" if name else str(r)


def read_user(p, va, n):
    """n bytes at va as p could read them (untouched pages read as zeros,
    nothing changes), or None where p cannot read."""
    if p.aspace is None:
        return None
    try:
        hw = p.aspace.vm.hw
        return b"".join(bytes(ln) if pa is None else hw.read(pa, ln) for
                        pa, ln in access(p.aspace, va, n, Intent.READ,
                                         Agent.DEBUGGER))
    except (UserFault, ValueError):
        return None


def show_bytes(data, n):
    """'"hello\\n"' (at most SHOWN_BYTES bytes, then '...')."""
    text = json.dumps(data[:SHOWN_BYTES].decode("latin-1"))
    return text + ("..." if n > SHOWN_BYTES else "")


def _argument(name, value):
    """One argument as text, by the handler's name for it: an address in
    hex, a mode in octal, anything else a signed number."""
    if name.endswith(POINTERS) or name == "?":
        return f"{value:#x}"
    return oct(value) if name == "mode" else str(s32(value))


class Strace:
    """The observer: writes each call to out (a text stream)."""

    def __init__(self, out, jsonl=False, tags=None):
        self.out, self.jsonl = out, jsonl
        self.tags = tags or {}      # more keys for each JSON line
        self.pending = {}           # pid -> name of a call that blocked
        self.calls = 0

    def on_syscall(self, t, num, args, result):
        self.pending.pop(t.tid, None)     # woken without a resumed line
        name = call_name(num)
        shown = self.arguments(t.proc, num, name, args)
        if result is None and t.alive and t.wait_on is not None:
            self.pending[t.tid] = name
            outcome = "<blocks>"
        elif result is None:
            outcome = "?"
        else:
            outcome = result_text(result)
        self.emit(t, name, shown, args, result, outcome)

    def arguments(self, p, num, name, args):
        """The arguments as text, one string each."""
        names = parameters(num) if num in SYSCALLS else ("?",) * 3
        shown = [_argument(n, a) for n, a in zip(names, args)]
        buf = INPUT_BUFFERS.get(name)
        if buf:
            n = min(args[buf[1]] & 0xFFFFFFFF, 4096)
            data = read_user(p, args[buf[0]], min(n, SHOWN_BYTES))
            if data is not None:
                shown[buf[0]] = show_bytes(data, n)
        return shown

    def resumed(self, t, result):
        name = self.pending.pop(t.tid, None)
        if name is not None:
            self.emit(t, f"<... {name} resumed>", None, (), result,
                      result_text(result))

    def on_wait(self, parent, child):
        for t in list(parent.threads.values()):
            self.resumed(t, child.pid)

    def on_recv(self, p, msg, t):
        self.resumed(t, len(msg.data))

    def on_futex_wake(self, waker, sleeper):
        self.resumed(sleeper, 0)

    def emit(self, t, name, shown, args, result, outcome):
        """One line for thread t's call: the tid shown when it is not
        the process's first thread."""
        self.calls += 1
        p, tid = t.proc, t.tid
        if self.jsonl:
            self.out.write(json.dumps({
                **self.tags, "pid": p.pid, "tid": tid, "call": name,
                "args": [a & 0xFFFFFFFF for a in args], "shown": shown,
                "result": result, "errno": errno_name(result),
                "outcome": outcome}) + "\n")
            return
        who = f"pid {p.pid}" + (f" tid {tid}" if tid != p.pid else "")
        call = name if shown is None else f"{name}({', '.join(shown)})"
        self.out.write(f"[{who}] {call} = {outcome}\n")
