"""The debugger's side of going back in time (tools/debug/timeline.py):
it learns which thread runs each slice, remembers where the machine stands at each
stop (`here`), turns a backward Resume into a Travel, and, on a rebuilt
machine, stops the replay exactly at its goal.

A replay stops at a count by lowering the CPU's instruction limit for
the slice that would pass it; once there the slice's own limit comes back,
so the slice goes on exactly as it did. While replaying, breakpoints,
watchpoints and faults stop nothing: a recording replay keeps them as
hits (tools/debug/reverse.py chooses among them)."""

from tools.debug import checkpoints, reverse
from tools.debug.stops import Reason, Stop
from tools.debug.timeline import Goal, Hit, Travel


class TimeTravel:
    def __init__(self, dbg, timeline):
        self.dbg, self.k, self.timeline = dbg, dbg.k, timeline
        self.replay = None           # the timeline.Replay under way
        self.here = Goal(0, None)    # where the machine stands (at a stop)
        self.limits = {}             # cpu index -> its slice's own limit
        for cpu in self.k.hw.cpus:
            self._wrap(cpu)

    def _wrap(self, cpu):
        """Hear each slice start: cpu.run calls counter.allow once."""
        allow = cpu.counter.allow

        def allow_slice(n):
            self._checkpoint()
            self.timeline.slices.record(self.k.hw.instructions, self.tid())
            allow(n)
            self.limits[cpu.index] = cpu.counter.state.limit
            if self.replay is not None:
                left = self.replay.goal.count - self.k.hw.instructions
                if left < n:
                    cpu.counter.state.limit = cpu.counter.count + max(0, left)
        cpu.counter.allow = allow_slice

    def _checkpoint(self):
        """At a slice start: take a checkpoint when one is due. In the
        copy a checkpoint makes when going back to it, take over."""
        ck = self.timeline.checkpoints
        count = self.k.hw.instructions
        if ck is None or not ck.due(count):
            return
        handover = ck.take(count)
        if handover is not None:
            checkpoints.apply(self.dbg, handover, count)

    def aim(self, replay):
        """Head for replay's goal from here (also mid-slice: the running
        CPU's limit comes down at once)."""
        self.replay = replay
        cpu = self.k.cpu
        if cpu is None or cpu.counter is None:
            return
        left = replay.goal.count - self.k.hw.instructions
        if left < cpu.counter.state.limit - cpu.counter.count:
            cpu.counter.state.limit = cpu.counter.count + max(0, left)

    # -- at stops ------------------------------------------------------------
    def arrived(self, stop):
        """The machine stops for the client: remember where."""
        self.here = Goal(self.k.hw.instructions, self.tid(), stop,
                         stop.reason is Reason.FAULT)

    def backward(self, resume):
        """The Travel a backward Resume asks for (at a stop)."""
        if resume.step_pid is not None:
            return Travel(reverse.step_back(self.timeline.slices, self.here,
                                            resume.step_pid))
        return Travel(reverse.continue_back(self.here))

    # -- on a replay ---------------------------------------------------------
    def _reached(self, fault):
        goal, n = self.replay.goal, self.k.hw.instructions
        if n > goal.count:
            return True              # past it (never expected): stop now
        return n == goal.count and goal.fault == fault and (
            goal.pid is None or self.tid() == goal.pid)

    def after_run(self, cpu):
        """A CPU stopped while replaying: the Stop to serve when the goal
        is reached (None: go on). A recording leg travels on instead."""
        cpu.counter.state.limit = self.limits.get(cpu.index,
                                                  cpu.counter.state.limit)
        return self._arrive(False)

    def at_fault(self, fault):
        """A fault while replaying: the goal's Stop, or None after keeping
        it as a hit."""
        if self.replay.record:
            self.record(reverse.fault_hit(self.k.hw.instructions,
                                          fault["tid"], fault["vector"]))
        return self._arrive(True)

    def _arrive(self, fault):
        if not self._reached(fault):
            return None
        replay, self.replay = self.replay, None
        if replay.record:
            raise Travel(reverse.last_hit(replay, replay.goal))
        stop = replay.goal.stop
        if stop.pid is None:
            stop = Stop(self.tid() or 1, stop.reason)
        return stop

    def tid(self):
        """The thread running now (gdb's thread id), or None."""
        t = self.k.thread
        return t.tid if t is not None else None

    def record(self, goal):
        """A hit met on a recording replay."""
        if self.replay is not None and self.replay.record:
            self.replay.hits.append(Hit(goal))
