"""The time axis of a deterministic run (`--seed`/`--quantum`) under the
debugger, and the way back along it.

The time coordinate is the global instruction count `k.hw.instructions`:
the CPUs take turns, one slice at a time, so every count names one moment
of the whole machine. A place on the axis is a Goal: a count and the
process running there. Going back to a goal rebuilds the machine from boot
with the same programs and options and replays it forward until the goal
(a Replay); the run is deterministic, so the replay repeats exactly what
happened. Without checkpoints (tools/debug/checkpoints.py) every journey
back starts at boot and costs the replayed instructions; with them, it
starts at the nearest checkpoint before the goal.

Replaying reports each slice's start, so a Timeline learns which process
ran each instruction (Slices); the console shows each byte a program wrote
once, however often it is replayed (ReplayConsole)."""

import bisect
from dataclasses import dataclass, field
from typing import Optional

from kernel.kernel import Console
from tools.debug.stops import Stop


class Travel(Exception):
    """Raised out of a run: rebuild the machine from boot and replay it
    to `replay`'s goal (tools/cli/gdb_opts.py catches it)."""

    def __init__(self, replay):
        super().__init__("travel in time")
        self.replay = replay


@dataclass
class Goal:
    """A place in the run: `count` instructions done, process `pid` on its
    CPU (None: any), and the Stop to report there. A fault goal is the
    moment the count's instruction faults (in pid)."""
    count: int
    pid: Optional[int]
    stop: Optional[Stop] = None
    fault: bool = False


@dataclass
class Hit:
    """What a recording replay saw: a stop that would have happened, and
    the goal that reaches it going backwards."""
    goal: Goal


@dataclass
class Replay:
    """A replay from boot to `goal`. With `record`, the breakpoints,
    watchpoints and faults met on the way are kept in `hits` (and the
    journey goes on to the last one: reverse continue)."""
    goal: Goal
    record: bool = False
    hits: list = field(default_factory=list)
    since: int = 0               # the count it starts from (a checkpoint's)
    start_by: Optional[int] = None   # start at or before this count


class Slices:
    """Which process ran each instruction: slice starts (global counts)
    and their processes, in order. Instruction i (1-based) belongs to the
    last slice starting before it; a slice recorded again (a replay over
    known ground) changes nothing."""

    def __init__(self):
        self.starts, self.pids = [], []

    def record(self, start, pid):
        if self.starts and start < self.starts[-1]:
            return
        if self.starts and start == self.starts[-1]:
            self.pids[-1] = pid          # an empty slice: the later owns it
            return
        self.starts.append(start)
        self.pids.append(pid)

    def last_of(self, pid, upto):
        """The largest instruction number i <= upto that pid ran, or None."""
        j = bisect.bisect_left(self.starts, upto) - 1
        while j >= 0:
            end = min(upto, self.starts[j + 1] if j + 1 < len(self.starts)
                      else upto)
            if self.pids[j] == pid and end > self.starts[j]:
                return end
            j -= 1
        return None


class ReplayConsole(Console):
    """A console that shows each byte once per run, however often the
    machine is rebuilt and replayed: `shown` (shared by every view) holds
    how many bytes of each stream were printed; a view prints only what
    goes beyond. Kernel messages are counted the same way."""

    def __init__(self, shown, out=None, err=None):
        super().__init__(out, err)
        self.shown = shown           # {1: bytes, 2: bytes, "msg": count}
        self.pos = {1: 0, 2: 0, "msg": 0}

    def write(self, fd, data):
        key = 1 if fd == 1 else 2
        start, self.pos[key] = self.pos[key], self.pos[key] + len(data)
        new = data[max(0, self.shown.get(key, 0) - start):]
        if new:
            self.shown[key] = self.pos[key]
            super().write(fd, new)

    def message(self, text):
        self.pos["msg"] += 1
        if self.pos["msg"] > self.shown.get("msg", 0):
            self.shown["msg"] = self.pos["msg"]
            super().message(text)


class Timeline:
    """The way back for one debugging session: `rebuild(console)` boots a
    fresh machine with the run's programs and options; `slices` and the
    console's `shown` outlive every rebuild."""

    def __init__(self, rebuild, out=None, err=None):
        self.rebuild = rebuild
        self.checkpoints = None      # checkpoints.Checkpoints, when kept
        self.supervisor = None       # checkpoints.Supervisor, with them
        self.slices = Slices()
        self.shown = {}
        self.out, self.err = out, err
        self.rebuilds = 0

    def console(self):
        """A fresh view of the run's console for one machine."""
        return ReplayConsole(self.shown, self.out, self.err)

    def origin(self, replay):
        """The checkpoint a replay starts from (None: boot)."""
        if self.checkpoints is None:
            return None
        limit = replay.goal.count
        if replay.start_by is not None:
            limit = min(limit, replay.start_by + 1)
        return self.checkpoints.before(limit)

    def machine(self):
        """A new machine, booted, at instruction count 0."""
        self.rebuilds += 1
        return self.rebuild(self.console())
