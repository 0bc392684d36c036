"""Threads: what the CPUs run. Every process has at least one; its first
thread's tid is the process's pid (tids and pids come from one counter).
The threads of a process share its address space; each has its own saved
registers, scheduling state and wait. Calls 40-43 (thread_create,
thread_exit, thread_join, gettid) live in kernel.proc.systhread."""

from dataclasses import dataclass
from typing import Optional

from kernel.proc.process import ProcState


@dataclass(eq=False)
class Thread:
    tid: int
    proc: object                 # its kernel.proc.process.Process
    ctx: object                  # emu Context with the saved registers
    state: ProcState = ProcState.RUNNABLE
    wait_on: Optional[object] = None    # a WaitReason while BLOCKED
    cont: Optional[object] = None       # a long call's progress (RESTART)
    status: Optional[int] = None        # set when it ends
    joined: bool = False         # its status was taken by thread_join

    @property
    def alive(self):
        return self.state is not ProcState.ZOMBIE

    @property
    def first(self):
        """True for the thread the process started with."""
        return self.tid == self.proc.pid

    def label(self):
        """How kernel messages name it: the pid, and the tid when another
        thread of the process."""
        p = self.proc
        who = f"pid {p.pid}" if self.first else f"tid {self.tid} of pid {p.pid}"
        return f"{who} ({p.name})"
