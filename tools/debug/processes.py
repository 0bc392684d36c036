"""The threads a debugger sees: every live thread of a process not yet
reaped, by tid. Which exist, what each is doing, and its registers by
name, read from the CPU that holds it or from its saved context."""

from emu.cpu import GPRS
from kernel.proc.process import ProcState
from tools.debug.stops import DebugError

WRITABLE_REGS = GPRS + ("eip", "eflags")
SEGMENT_REGS = ("cs", "ss", "ds", "es", "fs", "gs")
CONTROL_REGS = ("cr0", "cr2", "cr3", "cr4")
REGISTERS = WRITABLE_REGS + SEGMENT_REGS + CONTROL_REGS
# EFLAGS bits a debugger may set: those a popfd at CPL 3 (IOPL 0) changes
# and that the kernel leaves to the process (CF, PF, AF, ZF, SF, TF, DF,
# OF, AC, ID). IF, IOPL, NT, RF, VM, VIF, VIP and the reserved bits keep
# their values, as under ptrace.
USER_EFLAGS = 0x0DD5 | 1 << 18 | 1 << 21


class Processes:
    """The threads of one kernel's processes, by tid (a process's first
    thread's tid is its pid). A thread stopped at a fault (in faults)
    shows the faulting EIP, and its registers are read-only."""

    def __init__(self, k):
        self.k = k
        self.faults = {}             # tid -> fault dict while stopped in it

    def pids(self):
        """The tids of every live thread of every process not yet reaped
        (an exited process shows its first thread), in order."""
        out = []
        for p in self.k.procs:
            if not p.reaped:
                out += [t.tid for t in p.live_threads()] or [p.pid]
        return out

    def thread(self, tid):
        """The thread tid; DebugError when there is none (or it is gone)."""
        t = self.k.procs.thread(tid)
        if t is None or t.proc.reaped or (not t.alive and t.proc.alive):
            raise DebugError(f"no thread {tid}")
        return t

    def alive(self, tid):
        try:
            self.thread(tid)
        except DebugError:
            return False
        return True

    def get(self, tid):
        """The process of thread tid (a pid names its first thread);
        DebugError when there is none."""
        try:
            return self.thread(tid).proc
        except DebugError:
            raise DebugError(f"no process {tid}") from None

    def name(self, tid):
        return self.get(tid).name

    def pid_of(self, tid):
        return self.get(tid).pid

    def state_text(self, tid):
        """'running', 'runnable', 'blocked: <on what>', 'zombie (status
        N)', with ' (stopped at a fault)' while stopped before a kill."""
        t = self.thread(tid)
        if t.state is ProcState.BLOCKED and t.wait_on is not None:
            text = f"blocked: {t.wait_on.describe}"
        elif not t.proc.alive:
            text = f"zombie (status {t.proc.status})"
        else:
            text = t.state.value
        return text + (" (stopped at a fault)" if tid in self.faults else "")

    # -- registers ---------------------------------------------------------
    def _live_cpu(self, t):
        """The CPU whose live registers are t's, or None (then its saved
        context)."""
        for pc in self.k.sched.percpu:
            if pc.loaded is t and not (pc.cpu is self.k.cpu and
                                       self.k.switch):
                return pc.cpu
        return None

    def read_register(self, tid, name):
        t = self.thread(tid)
        if name not in REGISTERS:
            raise DebugError(f"no register {name}")
        if name == "eip" and tid in self.faults:
            return self.faults[tid]["eip"]
        cpu = self._live_cpu(t)
        return cpu.reg(name) if cpu else t.ctx.get(name)

    def write_register(self, tid, name, value):
        """Write a general register, EIP or EFLAGS (only its USER_EFLAGS
        bits: the rest keep their values); segment and control registers
        are the kernel's: an error unless unchanged."""
        t = self.thread(tid)
        value &= 0xFFFFFFFF
        if name == "eflags":
            value = user_eflags(self.read_register(tid, name), value)
        if name not in WRITABLE_REGS or tid in self.faults or \
                not t.proc.alive:
            if self.read_register(tid, name) == value:
                return
            raise DebugError(f"register {name} of thread {tid} is read-only")
        cpu = self._live_cpu(t)
        if cpu:
            cpu.set_reg(name, value)
        else:
            t.ctx.set(name, value)


def user_eflags(old, new):
    """EFLAGS with new's USER_EFLAGS bits and old's others."""
    return old & ~USER_EFLAGS | new & USER_EFLAGS
