"""The scheduler: CPUs take turns from one host thread, each running a slice
of its current thread; the kernel runs between slices and inside hooks
(one big kernel lock, by construction). One FIFO run queue of threads feeds
every CPU, so a thread may run on a different CPU each time it is
scheduled, and threads of one process run on several CPUs at once over one
address space; loading a thread's context loads its CR3 and flushes that
CPU's TLB.

Slices end in one of three ways:
- reproducible (`--quantum N`, `--seed S`): every instruction is counted
  and a slice is N instructions (or, with a seed, a length drawn from a PRNG
  seeded by S), so the same inputs give the same interleaving;
- default: while another process or CPU waits for a turn, a host timer
  raises a flag every few milliseconds and a C block hook stops the CPU at
  its next block start (full speed, not reproducible; installed only once
  a second process is runnable);
- early, when the thread blocks, yields, exits or is killed.

Which thread runs next, and how long its slice is, is the policy's
choice: FifoPolicy (below: the FIFO run queue, the default and
`--schedule random`) or kernel.sched.pct.PctPolicy (`--schedule pct`).
"""

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from kernel.mm.coherence import CodeCoherence
from kernel.mm.shootdown import Shootdown
from kernel.proc.process import ProcState

PREEMPT_SECONDS = 0.005
_NOBODY = deque()                # an empty run queue, never filled
DEFAULT_SEED_QUANTUM = 1000


@dataclass
class PerCpu:
    """The kernel's view of one CPU."""
    cpu: object                   # emu.machine.Cpu
    thread: object = None         # the thread it runs, if any
    loaded: object = None         # the thread whose context is in the CPU
    code_stale: WeakKeyDictionary = field(default_factory=WeakKeyDictionary)
    # aspace -> pages the kernel wrote that this CPU may hold translated
    code_stale_all: bool = False  # a shared frame was written: flush all
    instructions: int = 0
    idle_turns: int = 0
    context_switches: int = 0
    processes_run: set = field(default_factory=set)

    def report(self):
        return {"cpu": self.cpu.index, "instructions": self.cpu.instructions,
                "idle_turns": self.idle_turns,
                "context_switches": self.context_switches,
                "processes_run": sorted(self.processes_run)}


class FifoPolicy:
    """First come, first served: an idle CPU takes the head of the run
    queue; a preempted process goes to the back when others wait. Slices
    are --quantum instructions, or with a seed drawn uniformly from
    1..2*quantum (default 1000) by a PRNG seeded by it."""

    by_steps = False            # needs no global instruction count

    def __init__(self, quantum=0, seed=None):
        self.quantum = quantum
        self.rng = random.Random(seed) if seed is not None else None
        self.counting = bool(quantum) or seed is not None

    def pick(self, runq):
        """Remove and return the thread an idle CPU runs next."""
        return runq.popleft()

    def slice_length(self, p, now):
        """Instructions p may run from global step `now` (0: unlimited)."""
        if self.rng is not None:
            return self.rng.randint(1, 2 * (self.quantum or
                                            DEFAULT_SEED_QUANTUM))
        return self.quantum

    def preempts(self, p, runq):
        """After a full slice: does p give its CPU to someone in runq?"""
        return bool(runq)

    def ran(self, p, start, end, yielded):
        """p ran global steps [start, end) and then kept running, was
        preempted, or (yielded) gave the CPU up (only when by_steps)."""


class Scheduler:
    def __init__(self, k, quantum=0, seed=None, policy=None):
        self.k = k
        self.policy = policy or FifoPolicy(quantum, seed)
        self.counting = self.policy.counting
        self.percpu = [PerCpu(c) for c in k.hw.cpus]
        self.coherence = CodeCoherence(len(self.percpu))
        self.shootdown = Shootdown(k, self.percpu)
        self.preempting = False
        self.stop_reason = None     # set from any thread: end the run early
        k.procs.on_runnable = self.need_preemption

    def need_preemption(self):
        """A thread became runnable: in the default mode, from now on the
        CPUs must be preemptible (a C block hook per CPU, installed once:
        a lone process never pays for it)."""
        if self.preempting or self.counting:
            return
        if len(self.k.procs.runq) + sum(
                1 for pc in self.percpu if pc.thread is not None) > 1 or \
                len(self.percpu) > 1:
            for pc in self.percpu:
                pc.cpu.enable_preemption()
            self.preempting = True          # read by the timer thread

    def run(self):
        """Run until every process has ended, or until stop_reason is set
        (checked between slices; the live processes stay as they are);
        deadlocks end the blocked."""
        if self.counting:
            for pc in self.percpu:
                if pc.cpu.counter is None:
                    pc.cpu.count_instructions()
        self.need_preemption()
        timer = None if self.counting else _Preempter(self)
        try:
            while self.stop_reason is None and (
                    self._turn() or self.k.break_deadlock()):
                pass
        finally:
            if timer:
                timer.stop()

    def _turn(self):
        """Give each CPU one slice in order; False when none had work."""
        ran = False
        for pc in self.percpu:
            if self.stop_reason is not None:
                return True
            if pc.thread is None and self.k.procs.runq:
                pc.thread = self.policy.pick(self.k.procs.runq)
            if pc.thread is None:
                pc.idle_turns += 1
                continue
            self._slice(pc)
            ran = True
        return ran

    def _slice(self, pc):
        """Run pc's thread for one slice on pc's CPU."""
        k, t, cpu = self.k, pc.thread, pc.cpu
        p = t.proc
        if pc.loaded is not t:
            cpu.load(t.ctx)
            eip = t.ctx.get("eip")
            pc.loaded = t
            self.shootdown.loaded(pc)
            pc.context_switches += 1
            k.stats.context_switches += 1
            pc.processes_run.add(p.pid)
        else:
            eip = cpu.reg("eip")
        self._refresh_code(pc, p)
        self.coherence.before_slice(cpu, p)
        k.cpu, k.current, k.thread, k.switch = cpu, p, t, False
        t.state = ProcState.RUNNING
        cpu.new_slice()
        if self.policy.by_steps:            # it schedules by global steps
            start = k.hw.instructions
            cpu.run(eip, self.policy.slice_length(t, start))
            self.policy.ran(t, start, k.hw.instructions,
                            k.switch and t.state is ProcState.RUNNABLE)
        else:
            cpu.run(eip, self.policy.slice_length(t, None))
        self.coherence.after_slice(cpu, p)
        k.notify("slice_end", cpu, p, t)
        if k.switch:                        # blocked, yielded, exited
            pc.thread = pc.loaded = None
        elif self.policy.preempts(t, self._waiting()):
            cpu.save(t.ctx)
            t.ctx.clear_exception()         # docs/unicorn.md fact 6
            k.procs.make_runnable(t)
            pc.thread = pc.loaded = None
        else:                               # preempted, keeps the CPU
            cpu.clear_exception()

    def _waiting(self):
        """Who waits for a CPU as a slice ends: the run queue, when it holds
        more threads than idle CPUs will take this turn, else nobody (so
        threads that fit on the CPUs keep them, and their TLBs, side by
        side)."""
        idle = sum(1 for pc in self.percpu if pc.thread is None)
        return self.k.procs.runq if len(self.k.procs.runq) > idle else \
            _NOBODY

    def thread_ended(self, t):
        """t ended (its process exited, or thread_exit): a CPU other than
        the current one that runs it drops it, and its TLB (see
        kernel.mm.shootdown)."""
        for pc in self.percpu:
            if pc.thread is t and pc.cpu is not self.k.cpu:
                self.shootdown.stopped(pc, t)
                pc.thread = pc.loaded = None

    def tables_changed(self, aspace, why, old=()):
        """Mappings of aspace changed: every CPU that may cache them
        flushes its TLB before the change's call returns (the current CPU
        now, the others by a shootdown: kernel.mm.shootdown)."""
        self.shootdown.tables_changed(aspace, why, old)

    def code_written(self, aspace, pages, shared):
        """The kernel wrote pages of aspace (a copy-out). Real x86 fetches
        see every store; a Unicorn CPU keeps running code it translated
        from the old bytes (docs/unicorn.md fact 2, and its section on code
        coherence between CPUs). Of those pages, each CPU invalidates the
        ones it has translated code at: now, on the CPU running aspace, if
        any; every other CPU before it runs aspace again (a frame other
        address spaces may map makes every CPU drop all its code)."""
        cur = self.k.cpu
        for pc in self.percpu:
            mine = [va for va in pages if pc.cpu.may_hold_code(va)]
            if shared:
                pc.code_stale_all = True
            elif not mine:
                continue
            elif not (pc.cpu is cur and pc.loaded is not None and
                      pc.loaded.proc.aspace is aspace):
                pc.code_stale.setdefault(aspace, set()).update(mine)
                continue
            if pc.cpu is cur:        # in a hook, outside translated code
                self._refresh_code(pc, pc.loaded.proc, mine)

    def _refresh_code(self, pc, p, pages=()):
        """Before pc's CPU runs p (or now, inside a hook): drop translated
        code of pages the kernel wrote since this CPU last ran p."""
        if pc.code_stale_all:
            pc.code_stale_all = False
            pc.code_stale.clear()
            pc.cpu.flush_code()
            return
        if not pages and not pc.code_stale:
            return
        stale = pc.code_stale.pop(p.aspace, None) if p and pc.code_stale \
            else None
        if stale:
            # a page unmapped since needs nothing, and its lookup would
            # leave a #PF in progress (docs/unicorn.md, code coherence)
            pages = [va for va in stale.union(pages)
                     if p.aspace.frame_of(va) is not None]
        nx = bool(self.k.vm.mode.nx)
        for va in pages:
            pc.cpu.remove_code(va, nx)

    def others_waiting(self):
        return bool(self.k.procs.runq) or sum(
            1 for pc in self.percpu if pc.thread is not None) > 1

    def shm_attached(self, p, start):
        """p mapped shared memory at start: if in the middle of its slice,
        CodeCoherence must know."""
        k = self.k
        if p is k.current and k.cpu is not None:
            r = p.aspace.region_at(start)
            self.coherence.mapped_during_slice(k.cpu, p, r)


class _Preempter:
    """The default (fast, not reproducible) preemption: a host thread that,
    every few milliseconds while others wait, asks the running CPU to stop
    at its next block start. It never calls uc_emu_stop itself: a stop from
    another thread at an arbitrary moment lost futex wake-ups."""

    def __init__(self, sched):
        self.sched = sched
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.done.wait(PREEMPT_SECONDS):
            cpu = self.sched.k.cpu
            if cpu is not None and self.sched.preempting and \
                    self.sched.others_waiting():
                cpu.preempt_later()

    def stop(self):
        self.done.set()
        self.thread.join()
