"""The processes a debugger sees: every process not yet reaped is one of
its threads. Which exist, what each is doing, and its registers by name,
read from the CPU that holds it or from its saved context."""

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
    """The live processes of one kernel. A process stopped at a fault (in
    faults) shows the faulting EIP, and its registers are read-only."""

    def __init__(self, k):
        self.k = k
        self.faults = {}             # pid -> fault dict while stopped in it

    def pids(self):
        """The pids of every process not yet reaped, in order."""
        return [p.pid for p in self.k.procs if not p.reaped]

    def alive(self, pid):
        p = self.k.procs.get(pid)
        return p is not None and not p.reaped

    def get(self, pid):
        """The process pid; DebugError when there is none (or reaped)."""
        p = self.k.procs.get(pid)
        if p is None or p.reaped:
            raise DebugError(f"no process {pid}")
        return p

    def name(self, pid):
        return self.get(pid).name

    def state_text(self, pid):
        """'running', 'runnable', 'blocked: <on what>', 'zombie (status
        N)', with ' (stopped at a fault)' while stopped before a kill."""
        p = self.get(pid)
        t = p.main_thread()
        if p.state is ProcState.BLOCKED and t.wait_on is not None:
            text = f"blocked: {t.wait_on.describe}"
        elif p.state is ProcState.ZOMBIE:
            text = f"zombie (status {p.status})"
        else:
            text = p.state.value
        return text + (" (stopped at a fault)" if pid in self.faults else "")

    # -- registers ---------------------------------------------------------
    def _live_cpu(self, p):
        """The CPU whose live registers are p's main thread's, or None
        (then its saved context)."""
        t = p.main_thread()
        for pc in self.k.sched.percpu:
            if pc.loaded is t and not (pc.cpu is self.k.cpu and
                                       self.k.switch):
                return pc.cpu
        return None

    def read_register(self, pid, name):
        p = self.get(pid)
        if name not in REGISTERS:
            raise DebugError(f"no register {name}")
        if name == "eip" and pid in self.faults:
            return self.faults[pid]["eip"]
        cpu = self._live_cpu(p)
        return cpu.reg(name) if cpu else p.main_thread().ctx.get(name)

    def write_register(self, pid, name, value):
        """Write a general register, EIP or EFLAGS (only its USER_EFLAGS
        bits: the rest keep their values); segment and control registers
        are the kernel's: an error unless unchanged."""
        p = self.get(pid)
        value &= 0xFFFFFFFF
        if name == "eflags":
            value = user_eflags(self.read_register(pid, name), value)
        if name not in WRITABLE_REGS or pid in self.faults or not p.alive:
            if self.read_register(pid, name) == value:
                return
            raise DebugError(f"register {name} of pid {pid} is read-only")
        cpu = self._live_cpu(p)
        if cpu:
            cpu.set_reg(name, value)
        else:
            p.main_thread().ctx.set(name, value)


def user_eflags(old, new):
    """EFLAGS with new's USER_EFLAGS bits and old's others."""
    return old & ~USER_EFLAGS | new & USER_EFLAGS
