"""Where gdb's backward step (`bs`) and backward continue (`bc`) go, as
goals on the run's time axis (tools/debug/timeline.py).

A backward step of a process goes to just before the last instruction it
ran, wherever that was (an earlier slice, another CPU). A backward
continue first replays the run from boot to here, recording every
breakpoint, watchpoint and fault met, then goes to the last of them: a
breakpoint stops before its instruction, a watchpoint before the access
(so gdb sees the value the access replaced), a fault at the faulting
instruction. With nothing before here (or no earlier instruction of the
stepped process) both go to the start of the run."""

from tools.debug.stops import Reason, Stop
from tools.debug.timeline import Goal, Replay


def begin():
    """The start of the run: before the first instruction."""
    return Goal(0, None, Stop(None, Reason.BEGIN))


def step_back(slices, here, pid):
    """The Replay of a backward step of pid from `here` (a Goal)."""
    upto = here.count - (1 if here.fault else 0)   # a fault did not run
    i = slices.last_of(pid, upto)
    if i is None:
        return Replay(begin())
    return Replay(Goal(i - 1, pid, Stop(pid, Reason.STEP)))


def continue_back(here):
    """The first leg of a backward continue: replay to here, recording."""
    return Replay(Goal(here.count, here.pid, None, here.fault), record=True)


def last_hit(replay, here):
    """The second leg: the Replay to the last hit before here. With none
    since the replay's start (a checkpoint), record the stretch before it,
    twice as long as this one (so a hit far back costs a few legs)."""
    before = [h.goal for h in replay.hits if h.goal.count < here.count]
    if not before and replay.since:
        span = here.count - replay.since
        return Replay(Goal(replay.since, None), record=True,
                      start_by=replay.since - 2 * span)
    if not before:
        return Replay(begin())
    best = max(before, key=lambda g: g.count)   # max keeps the first of ties
    last = [g for g in before if g.count == best.count][-1]
    return Replay(last)


def breakpoint_hit(count, pid):
    """A breakpoint met before instruction count+1, run by pid."""
    return Goal(count, pid, Stop(pid, Reason.BREAKPOINT))


def watch_hit(count, pid, watch):
    """An access to watched bytes by instruction `count` (pid's): going
    back stops before it."""
    return Goal(count - 1, pid, Stop(pid, Reason.WATCHPOINT, watch.va,
                                     watch.kind))


def fault_hit(count, pid, vector):
    return Goal(count, pid, Stop(pid, Reason.FAULT, vector=vector),
                fault=True)
