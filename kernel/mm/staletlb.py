"""The stale-TLB detector of `--tlb-shootdown off` (teaching only).

With shootdown off the kernel sends no interrupt when it removes or
reduces a translation that another CPU may hold, and still frees the
frames. Whatever that CPU does next through the old translation reaches a
frame the page tables no longer grant it, perhaps one with a new owner.

How it is detected: when a shootdown is skipped, the kernel knows each old
translation (virtual page, frame) it removed or reduced (kernel.mm.vm
lists them while want_old is set). On each target CPU it installs a memory
hook on exactly those frames (Unicorn's memory hooks see physical
addresses). An access that CPU makes to such a frame is checked against
the page tables of the thread it runs: when they no longer map the old
virtual page to that frame for that access, the access went through the
stale translation, and it is reported (pid, tid, cpu, address, frame).
The hooks go when the CPU's TLB is flushed (a context load, or a flush by
the kernel on that CPU).

What it can miss or misjudge: an access to the frame through another,
valid mapping of the same address space while the hook is armed is
reported too (the hook sees the frame, not the address; the old page's
address is reported); a fork's copy-on-write reduction of a huge region is
listed page by page; and a translation the CPU had not cached yet is not
stale at all (that access walks the tables and faults), which the detector
sees correctly because a faulting access never reaches a memory hook.
"""

from emu.walk import READ, WRITE
from emu.x86 import PAGE_SIZE

FRAME = ~(PAGE_SIZE - 1)


class StaleTlb:
    """Reports of accesses through stale translations, per CPU and frame
    (each distinct (pid, tid, cpu, address, frame, access) once, with a
    count)."""

    def __init__(self, k):
        self.k = k
        self.armed = {}          # cpu index -> {frame: (hook, [old va])}
        self.found = {}          # key -> report entry
        k.vm.want_old = True

    def skipped(self, targets, aspace, old):
        """A shootdown of these CPUs was not sent: watch the old frames."""
        for pc in targets:
            armed = self.armed.setdefault(pc.cpu.index, {})
            new = False
            for va, frame in old:
                if frame in armed:
                    armed[frame][1].append(va)
                    continue
                hook = pc.cpu.add_mem_hook(self._checker(pc, frame), frame,
                                           frame + PAGE_SIZE - 1, True, True)
                armed[frame] = (hook, [va])
                new = True
            if new:
                pc.cpu.flush_code()      # code translated before: no hook

    def flushed(self, pc):
        """pc's CPU flushed its TLB: nothing stale is left there."""
        for hook, _ in self.armed.pop(pc.cpu.index, {}).values():
            pc.cpu.remove_hook(hook)

    def _checker(self, pc, frame):
        def on_access(is_write, pa, size):
            self._check(pc, frame, is_write, pa)
        return on_access

    def _check(self, pc, frame, is_write, pa):
        t = pc.loaded
        armed = self.armed.get(pc.cpu.index, {}).get(frame)
        if t is None or armed is None or t.proc.aspace is None:
            return
        off = pa & (PAGE_SIZE - 1)
        for va in armed[1]:
            w = t.proc.aspace.walk(va + off, WRITE if is_write else READ)
            if w.ok and w.pa & FRAME == frame:
                return                   # granted again, to the same frame
        self._report(pc, t, armed[1][-1] + off, frame, is_write)

    def _report(self, pc, t, va, frame, is_write):
        key = (t.proc.pid, t.tid, pc.cpu.index, va, frame, is_write)
        entry = self.found.get(key)
        if entry is not None:
            entry["count"] += 1
            return
        self.found[key] = {"pid": t.proc.pid, "tid": t.tid,
                           "cpu": pc.cpu.index, "address": va,
                           "frame": frame,
                           "access": "write" if is_write else "read",
                           "count": 1}
        self.k.console.message(
            f"stale TLB: {t.label()} on cpu {pc.cpu.index} "
            f"{'wrote' if is_write else 'read'} {va:#010x} through a "
            f"translation the page tables no longer grant: frame "
            f"{frame:#x}")

    def report(self, report):
        report["stale_tlb"] = list(self.found.values())
