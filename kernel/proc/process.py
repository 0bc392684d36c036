"""Processes, the process table and the run queue.

A process never touches a PTE: its memory is an AddressSpace (kernel.mm.vm).
What runs is its threads (kernel.proc.thread), each with its own saved
registers; the run queue holds threads.
"""

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

NPROC = 1024                     # live (not yet reaped) processes and
#                                  threads at once


class ProcState(enum.Enum):
    RUNNABLE = "runnable"
    RUNNING = "running"
    BLOCKED = "blocked"
    ZOMBIE = "zombie"


class WaitKind(enum.Enum):
    """What a blocked thread waits for."""
    WAIT = "wait"                # a child's exit
    SEND = "send"                # room in a full queue
    RECV = "recv"                # a message
    FUTEX = "futex"              # a futex_wake on its word
    JOIN = "join"                # a sibling thread's end


@dataclass(eq=False)
class Process:
    pid: int
    name: str
    uid: int
    parent: int                  # 0 for boot processes
    aspace: object               # kernel.mm.vm.AddressSpace, None once exited
    status: Optional[int] = None
    fault: Optional[dict] = None
    children: list = field(default_factory=list)
    threads: dict = field(default_factory=dict)   # tid -> Thread, in order
    live: dict = field(default_factory=dict)      # the live ones of them
    exited: bool = False         # every thread has ended: a zombie
    reaped: bool = False         # a zombie whose slot is free again

    @property
    def alive(self):
        return not self.exited

    @property
    def state(self):
        """ZOMBIE once exited; else RUNNING, RUNNABLE or BLOCKED: the
        busiest state among its live threads."""
        if self.exited:
            return ProcState.ZOMBIE
        states = {t.state for t in self.live.values()}
        for s in (ProcState.RUNNING, ProcState.RUNNABLE):
            if s in states:
                return s
        return ProcState.BLOCKED

    def main_thread(self):
        """The thread that stands for the process where one is needed: its
        first live thread (the first thread once all have ended)."""
        live = self.live_threads()
        return live[0] if live else self.threads[self.pid]

    def live_threads(self):
        return list(self.live.values())

    def waiting(self, kind):
        """Its threads blocked for kind (a WaitKind), oldest first."""
        return [t for t in self.live.values()
                if t.state is ProcState.BLOCKED and t.wait_on is not None
                and t.wait_on.kind is kind]


@dataclass
class WaitReason:
    """What a blocked thread waits for, and how to finish its call.

    resume(...) is called by the waker; it returns the syscall result to
    put in EAX. describe is the text the deadlock report shows.
    """
    kind: WaitKind
    describe: str
    resume: object = None
    key: object = None


class ProcTable:
    """Every process by pid, every thread by tid, and the FIFO run queue
    of threads."""

    def __init__(self):
        self.procs = {}
        self.threads = {}
        self.extra = 0               # slots of threads beyond the first
        self.next_pid = 1
        self.runq = deque()
        self.on_runnable = lambda: None     # the scheduler's: one more waits

    def __iter__(self):
        return iter(self.procs.values())

    def get(self, pid):
        return self.procs.get(pid)

    def thread(self, tid):
        return self.threads.get(tid)

    def live_count(self):
        """Slots in use: processes not yet reaped, and the threads beyond
        each one's first that are neither joined nor gone with it."""
        return self.extra + sum(1 for p in self.procs.values()
                                if not p.reaped)

    def full(self):
        return self.live_count() >= NPROC

    def add(self, proc):
        """Enter proc and its (first) thread, runnable."""
        self.procs[proc.pid] = proc
        for t in proc.threads.values():
            self.add_thread(t)

    def add_thread(self, t):
        t.proc.threads[t.tid] = t.proc.live[t.tid] = t
        self.threads[t.tid] = t
        self.extra += not t.first
        self.runq.append(t)
        self.on_runnable()

    def ended(self, t):
        """Thread t ended (its slot stays until joined or its process
        exits)."""
        t.proc.live.pop(t.tid, None)

    def joined(self, t):
        """Ended thread t's status was taken: its slot is free."""
        t.joined = True
        if not t.proc.exited:
            self.extra -= 1

    def exited(self, p):
        """Every thread of p has ended: the slots of its threads beyond
        the first that nobody joined are free."""
        self.extra -= sum(1 for t in p.threads.values()
                          if not t.first and not t.joined)
        p.exited = True

    def new_pid(self):
        """The next id, for a process (its pid and first tid) or a thread."""
        pid, self.next_pid = self.next_pid, self.next_pid + 1
        return pid

    def make_runnable(self, t):
        t.state = ProcState.RUNNABLE
        t.wait_on = None
        self.runq.append(t)
        self.on_runnable()

    def block(self, t, reason):
        t.state = ProcState.BLOCKED
        t.wait_on = reason

    def blocked(self):
        """Every blocked thread, by tid."""
        return [t for t in self.threads.values()
                if t.state is ProcState.BLOCKED]

    def runnable_count(self):
        return len(self.runq)
