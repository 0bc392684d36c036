"""A process's memory as the debugger reads and writes it: through that
process's own page tables with user rights. An address it cannot access is
an error, never physical memory, never another process's."""

from emu.walk import READ, WRITE
from kernel.mm.access import Agent, Intent, access
from kernel.mm.vm import UserFault
from tools.debug.stops import DebugError


class Memory:
    """Virtual memory of each process of one kernel, by pid."""

    def __init__(self, k, procs):
        self.k = k
        self.procs = procs

    def read(self, pid, va, n):
        hw = self.k.hw
        return b"".join(bytes(ln) if pa is None else hw.read(pa, ln)
                        for pa, ln in self.pages(pid, va, n, READ))

    def write(self, pid, va, data):
        """Write through pid's tables with user rights, all or nothing;
        translated code is dropped so every CPU runs the new bytes."""
        i = 0
        for pa, ln in self.pages(pid, va, len(data), WRITE):
            self.k.hw.write(pa, data[i:i + ln])
            i += ln
        self.k.hw.flush_code()

    def pages(self, pid, va, n, access_, key=False):
        """[(pa, length)] for [va, va+n) through pid's own tables with user
        rights, as the debugger agent of kernel.mm.access resolves them (a
        read of an untouched page: pa None, zeros; a write, or key for the
        frame behind a watchpoint, takes the frame); DebugError where pid
        may not access it."""
        p = self.procs.get(pid)
        if p.aspace is None:
            raise DebugError(f"pid {pid} has no memory (it has exited)")
        intent = Intent.KEY if key else Intent.of(access_)
        try:
            return access(p.aspace, va, n, intent, Agent.DEBUGGER)
        except UserFault as e:
            if va < 0 or n < 0 or va + n > 1 << 32:
                raise DebugError("address out of range") from None
            raise DebugError(f"pid {pid} cannot access {e.va:#x}") from None
