"""The kernel's debugging interface: what a debugger (tools/debug/gdbstub.py) may
ask of a running machine, in the kernel's own terms.

Every thread of every process is a thread of the debugger, by tid (a
process's first thread's tid is its pid). Its registers are read from the
CPU that holds it, or from its saved context; its memory is read and
written through its own page tables with user rights (an address it cannot
access is an error, never physical memory, never another process's).
Breakpoints are code hooks on the address, never bytes written into
(possibly shared) program text, so they stop any process that executes
that address. Watchpoints watch the physical bytes behind an address of
one process: a hook on that physical range stops whichever process touches
it, through whatever virtual address. A fault that would kill a process
stops it first.

The debugger (the "client") is called back at every stop with a Stop and
answers how to go on: a Resume (tools/debug/stops.py). It never touches
the scheduler; between stops it talks to this object only, whose parts
answer it: processes.py (threads, registers by name), memory.py,
points.py (breakpoints, watchpoints, single step) and monitor.py. On a
deterministic run given a timeline (tools/debug/timeline.py) it can also
go back in time (travel.py).
"""

import threading
import time

from tools.debug.memory import Memory
from tools.debug.monitor import Monitor
from tools.debug.points import Breakpoints, Step, Watchpoints
from tools.debug.processes import Processes
from tools.debug.stops import EndRun, Reason, Resume, Stop
from tools.debug.travel import TimeTravel

INTERRUPT_RETRY = 0.02           # seconds between stop requests (Ctrl-C)


class Interrupter:
    """Ctrl-C: the CPUs are asked to stop every INTERRUPT_RETRY seconds,
    from a thread of its own, until one has (a stop that lands between two
    runs is lost); nothing is added to the guest's path, so an attached
    debugger costs no speed."""

    def __init__(self, k):
        self.k = k
        self.requested = False
        self.ended = False           # the run is over: stop asking
        self._thread = None

    def request(self):
        """Ask until a CPU has stopped (any thread may call this)."""
        self.requested = True
        t = self._thread
        if t is None or not t.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def _loop(self):
        while self.requested and not self.ended:
            for cpu in self.k.hw.cpus:
                cpu.stop_from_another_thread()
            time.sleep(INTERRUPT_RETRY)


class Debugger:
    """The debugging interface of one kernel. It serves each stop to the
    client and applies the answer; the client's questions are answered by
    its parts (processes, memory, points, monitor commands)."""

    def __init__(self, k, timeline=None):
        self.k = k
        self.client = None           # .on_stop(Stop) -> Resume
        self.pending = None          # a Stop a hook asked for
        self.interrupter = Interrupter(k)
        self.procs = Processes(k)
        self.memory = Memory(k, self.procs)
        self.breakpoints = Breakpoints(k, self)
        self.watchpoints = Watchpoints(k, self, self.memory)
        self.step = Step(k, self)
        self.commands = Monitor(k, self.procs)
        self.attach(k)
        self.travel = TimeTravel(self, timeline) if timeline and \
            k.sched.counting else None
        if self.travel is not None:
            self.commands.checkpoints = timeline.checkpoints

    def reborn(self, k):
        """The debugger of k, a rebuilt machine of this run: same client,
        breakpoints and watchpoints, same timeline."""
        new = Debugger(k, self.travel.timeline)
        new.client = self.client
        getattr(self.client, "retarget", lambda t: None)(new)
        for va in self.breakpoints.hooks:
            new.breakpoints.add(va)
        for w in self.watchpoints.watches.values():
            new.watchpoints.install(w)
        new.watchpoints.known.update(self.watchpoints.known)
        return new

    def attach(self, k):
        """Hook the end of every CPU's run; hear the kernel's events."""
        for cpu in k.hw.cpus:
            if k.sched.counting and cpu.counter is None:
                cpu.count_instructions()    # before any debug hook
            cpu.on_stopped = lambda cpu=cpu: self._after_run(cpu)
        k.attach(self)

    # -- the client's questions, answered by the parts ---------------------
    def threads(self):
        return self.procs.pids()

    def alive(self, pid):
        return self.procs.alive(pid)

    def name(self, pid):
        return self.procs.name(pid)

    def pid_of(self, tid):
        """The pid of thread tid's process."""
        return self.procs.pid_of(tid)

    def state_text(self, pid):
        return self.procs.state_text(pid)

    def read_register(self, pid, name):
        return self.procs.read_register(pid, name)

    def write_register(self, pid, name, value):
        self.procs.write_register(pid, name, value)

    def read_memory(self, pid, va, n):
        return self.memory.read(pid, va, n)

    def write_memory(self, pid, va, data):
        self.memory.write(pid, va, data)

    def add_breakpoint(self, va):
        self.breakpoints.add(va)

    def remove_breakpoint(self, va):
        self.breakpoints.remove(va)

    def add_watchpoint(self, pid, va, length, kind):
        self.watchpoints.add(pid, va, length, kind)

    def remove_watchpoint(self, va, length, kind):
        self.watchpoints.remove(va, length, kind)

    def monitor(self, line):
        """A monitor command's text; gdb's current thread is the default
        process."""
        return self.commands.run(line, getattr(self.client, "g_thread",
                                               None))

    def reversible(self):
        """True when the machine can go back in time (a deterministic run
        with a timeline)."""
        return self.travel is not None

    def replaying(self):
        """True while a rebuilt machine replays toward a goal: nothing
        stops it but the goal."""
        return self.travel is not None and self.travel.replay is not None

    def record(self, goal):
        """A breakpoint, watchpoint or fault met while replaying."""
        self.travel.record(goal)

    # -- stops -------------------------------------------------------------
    def stop_now(self, cpu, stop):
        """From a code hook: stop before this instruction runs."""
        self.pending = stop
        cpu.uncount()
        cpu.stop()

    def stop_next(self, cpu, stop):
        """From a memory hook: stop before the accessor's next instruction
        (stopping inside this one would make the CPU repeat it)."""
        self.pending = stop
        cpu.stop_next()

    def interrupt(self):
        """Stop the machine soon (any thread may call this: Ctrl-C)."""
        self.interrupter.request()

    def _interrupt_stop(self):
        """Ctrl-C: stop names the process that was running, or (when it has
        just ended) the first live one."""
        t = self.k.thread
        if t is not None and t.alive:
            return Stop(t.tid, Reason.INTERRUPT)
        live = self.threads()
        return Stop(live[0] if live else t.tid if t else 1, Reason.INTERRUPT)

    def _after_run(self, cpu):
        """Called by a CPU after each run: serve a pending stop (or the
        goal of a replay); True to let the same slice go on (so the
        interleaving stays as it was)."""
        if self.replaying():
            self.pending, self.interrupter.requested = None, False
            stop = self.travel.after_run(cpu)
            return self._go_on(cpu) if stop is None else \
                self._stop_here(cpu, stop)
        if self.pending is None and not self.interrupter.requested:
            return False
        stop = self.pending or self._interrupt_stop()
        self.pending, self.interrupter.requested = None, False
        return self._stop_here(cpu, stop)

    def _stop_here(self, cpu, stop):
        for c in self.k.hw.cpus:
            c.stop_next(armed=False)
        used_up = cpu.slice_used_up()
        self._serve(stop)
        return self._go_on(cpu, used_up)

    def _go_on(self, cpu, used_up=None):
        """Does the slice go on after this stop?"""
        if used_up is None:
            used_up = cpu.slice_used_up()
        p = self.k.current
        return not (self.k.switch or used_up or p is None or not p.alive)

    def _serve(self, stop):
        """Hand a stop to the client and apply its answer."""
        if self.client is None:
            return Resume()
        self.step.clear()
        if self.travel is not None:
            self.travel.arrived(stop)
        resume = self.client.on_stop(stop)
        if resume.kill:
            raise EndRun("killed from the debugger")
        if resume.backward:
            raise self.travel.backward(resume)
        if resume.detach:
            self.detach()
        elif resume.step_pid is not None:
            self.step.start(resume.step_pid)
        t = self.k.procs.thread(stop.pid)
        self.breakpoints.pass_over(stop.pid, None if t is None or not t.alive
                                   else self.read_register(stop.pid, "eip"))
        return resume

    # -- the run's start and end -------------------------------------------
    def first_stop(self):
        """Before the first user instruction: stop pid 1 (or the first)."""
        pids = self.threads()
        if pids:
            self._serve(Stop(pids[0], Reason.START))

    def finished(self, status):
        """The run has ended; tell the client."""
        self.interrupter.ended = True
        if self.client is not None:
            self.client.on_exit(status)

    def detach(self):
        """Forget every breakpoint, watchpoint and step; run freely."""
        self.breakpoints.clear()
        self.watchpoints.clear()
        self.step.clear()
        self.client = None
        self.interrupter.requested = False

    # -- kernel events -----------------------------------------------------
    def on_fatal(self, p, fault):
        """trap.kill is about to end p for a CPU exception: stop it first
        (continuing lets it die as without a debugger)."""
        if self.client is None:
            return
        tid = fault["tid"]
        stop = Stop(tid, Reason.FAULT, vector=fault["vector"])
        if self.replaying():
            stop = self.travel.at_fault(fault)
            if stop is None:
                return
        self.procs.faults[tid] = fault
        try:
            self._serve(stop)
        finally:
            self.procs.faults.pop(tid, None)

    def on_exit(self, p):
        """A stepped process that ends (or dies at a fault it was stopped
        at) stops the machine as its slice ends, in a live process."""
        if self.step.pid in p.threads:
            self.step.clear()
            live = [q.pid for q in self.k.procs if q.alive and q is not p]
            if live and self.pending is None:
                self.pending = Stop(live[0], Reason.EXIT)
