"""The events the kernel emits, and how observers attach to them.

An observer is any object with on_<event> methods, attached with
Kernel.attach(observer) and detached with Kernel.detach(observer); every
on_* method must name an event of EVENTS (a typo is an error, not a hook
that never runs). The kernel keeps, per event, the tuple of attached
handlers (Hooks), rebuilt on attach and detach: an event nobody observes
costs one attribute test on the path that emits it.
"""

from dataclasses import dataclass

# event -> (its arguments, what it means), in no particular order.
EVENTS = {
    "spawn": ("parent, child", "child entered the process table (parent "
              "None at boot), before it first runs"),
    "exit": ("p", "p is ending, its memory still mapped"),
    "wait": ("parent, child", "parent reaped child"),
    "send": ("p, msg", "p queued or handed over message msg"),
    "recv": ("p, msg, t", "thread t of p received message msg"),
    "futex_wake": ("waker, sleeper", "thread waker woke thread sleeper "
                   "from a futex"),
    "shm_attach": ("p, seg, addr", "segment seg is mapped at addr in p "
                   "(an attach, or a fork child's inherited attachment)"),
    "shm_frame": ("seg, page, pa", "page page of seg got its frame pa"),
    "shm_detach": ("seg", "an attachment of seg went away"),
    "shm_free": ("seg", "seg's frames are being freed"),
    "slice_end": ("cpu, p, t", "thread t of process p ended its slice on "
                  "cpu"),
    "thread_create": ("creator, t", "thread creator made thread t (of the "
                      "same process), before t first runs"),
    "thread_exit": ("t", "thread t ended by thread_exit, its process "
                    "going on (the last thread's end is the exit event)"),
    "thread_join": ("joiner, t", "thread joiner took ended thread t's "
                    "status"),
    "shootdown": ("cpu, targets, pid, why", "cpu (None outside a hook) "
                  "flushed the TLBs of the CPUs targets (indices) running "
                  "pid's address space, whose translations changed (why)"),
    "run_end": ("", "every process has ended"),
    "output": ("p, fd, data", "p wrote data to fd (1 or 2) of the console"),
    "message": ("text", "a kernel message went to the console"),
    "fatal": ("p, fault", "a CPU exception is about to kill p (fault: the "
              "report's fault dict, which an observer may add to)"),
    "syscall": ("t, num, args, result", "thread t's system call number "
                "num (args: its five argument registers) was handled; "
                "result is its return value, or None when t blocked (the "
                "result comes at its wake-up) or ended"),
    "trap_end": ("what", "a system call or CPU exception was handled; what "
                 "(a Trap) names it and the process it came from"),
    "fault_begin": ("p, cr2, err, eip", "p raised #PF; nothing changed yet"),
    "fault_end": ("filled", "the #PF was filled (retry) or not (fatal)"),
    "pte_mapped": ("aspace, va, npages", "npages PTEs at va were written"),
    "pte_unmapping": ("aspace, va, entries", "the PTEs at va (raw values "
                      "entries) are about to be cleared"),
    "pte_forked": ("child, vas", "fork wrote child's PTEs for pages vas"),
    "cow_broken": ("aspace, page, old, new", "a copy-on-write page was made "
                   "writable: frame old copied to new, or reused (old == new)"),
}


@dataclass(frozen=True)
class Trap:
    """What trap_end says was handled: system call syscall (its name, or
    its number if unknown) or, when syscall is None, CPU exception vector
    (None when the hook had none), in process pid ("-" if none)."""
    syscall: object
    vector: object
    pid: object

    @property
    def is_syscall(self):
        return self.syscall is not None

    def __str__(self):
        if self.is_syscall:
            return f"syscall {self.syscall} by pid {self.pid}"
        where = "fault" if self.vector is None else f"vector {self.vector}"
        return f"{where} in pid {self.pid}"


class UnknownEvent(TypeError):
    """An observer's on_* method names no event of EVENTS."""


def handler_names(observer):
    """The events observer handles; raises UnknownEvent for an on_* method
    that names none."""
    names = [n[3:] for n in dir(observer)
             if n.startswith("on_") and callable(getattr(observer, n))]
    unknown = [n for n in names if n not in EVENTS]
    if unknown:
        raise UnknownEvent(f"{type(observer).__name__}: no such event: "
                           + ", ".join(f"on_{n}" for n in unknown))
    return names


class Hooks:
    """Per event, the tuple of the attached observers' bound handlers, in
    attach order (empty when nobody listens)."""
    __slots__ = tuple(EVENTS)

    def __init__(self):
        self.rebuild(())

    def rebuild(self, observers):
        for event in EVENTS:
            setattr(self, event, tuple(
                getattr(o, "on_" + event) for o in observers
                if hasattr(o, "on_" + event)))
