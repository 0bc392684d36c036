"""A process's memory as the debugger reads and writes it: through that
process's own page tables with user rights. An address it cannot access is
an error, never physical memory, never another process's."""

from emu import x86
from emu.walk import READ, WRITE
from emu.x86 import PAGE_SIZE
from kernel.mm.vm import NoMemory, RegionKind, UserFault
from tools.debug.stops import DebugError


def untouched_frame(region, va):
    """The frame a not-present page of region would get on first touch if
    it exists already (a shared segment's page another process touched),
    else None (a zero-filled page to be)."""
    seg = region.obj if region.kind is RegionKind.SHM else None
    if seg is None:
        return None
    return seg.frames[(va - region.start) // PAGE_SIZE] or None


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
        for pa, ln in self.pages(pid, va, len(data), WRITE, fault_in=True):
            self.k.hw.write(pa, data[i:i + ln])
            i += ln
        self.k.hw.flush_code()

    def pages(self, pid, va, n, access, fault_in=False):
        """[(pa, length)] for [va, va+n) through pid's own tables with user
        rights; DebugError where pid may not access it. A page pid may use
        but has not touched yet reads as that touch would show it (pa None:
        zero-filled to be); with fault_in (writes, watchpoints) it gets its
        frame: a shared page in its segment only (so pid's own first touch
        still faults, and the run's instruction count stays the same), a
        private page as pid's own first touch would."""
        p = self.procs.get(pid)
        if p.aspace is None:
            raise DebugError(f"pid {pid} has no memory (it has exited)")
        if va < 0 or n < 0 or va + n > 1 << 32:
            raise DebugError("address out of range")
        out = []
        while n > 0:
            length = min(n, PAGE_SIZE - (va & (PAGE_SIZE - 1)))
            out.append((self._page(p, va, access, fault_in), length))
            va, n = va + length, n - length
        return out

    def _page(self, p, va, access, fault_in):
        w = p.aspace.walk(va, access)
        if w.ok:
            return w.pa
        if fault_in and access == WRITE and w.error_code & x86.PF_P:
            return self._translate(p, va, access)   # copy-on-write: break
        r = p.aspace.region_at(va)                  # it as a copy-out does
        if w.error_code & x86.PF_P or r is None or r.pager is None or \
                (access == WRITE and not r.writable):
            raise DebugError(f"pid {p.pid} cannot access {va:#x}")
        if fault_in and r.kind is RegionKind.SHM:    # the segment takes the frame;
            pa = r.pager(r, x86.pgrounddown(va))     # pid still faults on
            self.k.frames.decref(pa)                 # it as it would have
            return pa + (va & (PAGE_SIZE - 1))
        if fault_in:
            return self._translate(p, va, access)
        frame = untouched_frame(r, va)
        return frame + (va & (PAGE_SIZE - 1)) if frame else None

    def _translate(self, p, va, access):
        """va's frame for access as the kernel's own copies get it."""
        try:
            return p.aspace.translate(va, access)
        except (UserFault, NoMemory):
            raise DebugError(f"pid {p.pid} cannot access {va:#x}") from None
