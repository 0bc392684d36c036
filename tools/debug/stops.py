"""What the debugging target tells its client and hears back, in the
kernel's terms: a Stop (which process, and why: a Reason), a Resume (how
to go on), and the errors a request may raise."""

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class DebugError(Exception):
    """A request the machine cannot honour (bad pid, address, register)."""


class EndRun(Exception):
    """The debugger asked to end the whole run (gdb's kill)."""


class Reason(Enum):
    """Why the machine stopped."""
    START = "start"              # before the first user instruction
    BREAKPOINT = "breakpoint"    # before the breakpoint's instruction runs
    WATCHPOINT = "watchpoint"    # right after an access to watched bytes
    STEP = "step"                # after the one instruction a step allowed
    FAULT = "fault"              # at a CPU exception that would kill it
    INTERRUPT = "interrupt"      # asked to stop from outside (Ctrl-C)
    EXIT = "exit"                # the stepped process ended
    BEGIN = "begin"              # going back reached the start of the run


class WatchKind(Enum):
    """The accesses a watchpoint stops at."""
    WRITE = "write"
    READ = "read"
    ACCESS = "access"            # reads and writes


@dataclass
class Stop:
    """The process that stopped and why. A watchpoint stop carries the
    watched address as it was set and its kind; a fault stop the vector.
    At an EXIT stop pid names a live process (the stepped one is gone)."""
    pid: int
    reason: Reason
    address: Optional[int] = None
    watch: Optional[WatchKind] = None
    vector: Optional[int] = None


@dataclass
class Resume:
    """How to go on after a stop: run freely, step one process by one
    instruction, detach (forget every breakpoint and run freely), or end
    the run. With `backward` the same goes back in time (a deterministic
    run only): step_pid's previous instruction, or the last stop before
    now."""
    step_pid: Optional[int] = None
    detach: bool = False
    kill: bool = False
    backward: bool = False
