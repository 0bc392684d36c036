"""Processes, the process table and the run queue.

A process never touches a PTE: its memory is an AddressSpace (kernel.mm.vm).
Its registers live in a saved CPU context while it is not running.
"""

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

NPROC = 1024                     # live (not yet reaped) processes at once


class ProcState(enum.Enum):
    RUNNABLE = "runnable"
    RUNNING = "running"
    BLOCKED = "blocked"
    ZOMBIE = "zombie"


class WaitKind(enum.Enum):
    """What a blocked process waits for."""
    WAIT = "wait"                # a child's exit
    SEND = "send"                # room in a full queue
    RECV = "recv"                # a message
    FUTEX = "futex"              # a futex_wake on its word


@dataclass
class Process:
    pid: int
    name: str
    uid: int
    parent: int                  # 0 for boot processes
    ctx: object                  # emu Context with the saved registers
    aspace: object               # kernel.mm.vm.AddressSpace, None once exited
    state: ProcState = ProcState.RUNNABLE
    status: Optional[int] = None
    fault: Optional[dict] = None
    children: list = field(default_factory=list)
    wait_on: Optional[object] = None    # a WaitReason while BLOCKED
    reaped: bool = False         # a zombie whose slot is free again
    cont: Optional[object] = None       # a long call's progress (RESTART)

    @property
    def alive(self):
        return self.state is not ProcState.ZOMBIE


@dataclass
class WaitReason:
    """What a blocked process waits for, and how to finish its call.

    resume(proc) is called by the waker; it returns the syscall result to
    put in EAX. describe is the text the deadlock report shows.
    """
    kind: WaitKind
    describe: str
    resume: object = None
    key: object = None


class ProcTable:
    """Every process by pid, and the FIFO run queue."""

    def __init__(self):
        self.procs = {}
        self.next_pid = 1
        self.runq = deque()
        self.on_runnable = lambda: None     # the scheduler's: one more waits

    def __iter__(self):
        return iter(self.procs.values())

    def get(self, pid):
        return self.procs.get(pid)

    def live_count(self):
        return sum(1 for p in self.procs.values() if not p.reaped)

    def full(self):
        return self.live_count() >= NPROC

    def add(self, proc):
        self.procs[proc.pid] = proc
        self.runq.append(proc)
        self.on_runnable()

    def new_pid(self):
        pid, self.next_pid = self.next_pid, self.next_pid + 1
        return pid

    def make_runnable(self, proc):
        proc.state = ProcState.RUNNABLE
        proc.wait_on = None
        self.runq.append(proc)
        self.on_runnable()

    def block(self, proc, reason):
        proc.state = ProcState.BLOCKED
        proc.wait_on = reason

    def blocked(self):
        return [p for p in self.procs.values() if p.state is ProcState.BLOCKED]

    def runnable_count(self):
        return len(self.runq)
