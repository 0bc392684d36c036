"""The last writes to one word of physical memory, without a debugger:
which process (and thread, where threads exist) wrote it, by which
instruction at what instruction count, and what it held before and after.

A LastWrites observer hooks every guest write to the 4 bytes at a
physical address (any process, through any virtual address) and keeps
them in order; Locate finds the physical word behind a virtual address of
one process (the frame behind it at the end of its last slice before the
count asked for, whether or not its own page table maps it yet). Only guest instructions' writes are seen: the kernel's
copy-out (a status written by wait, a received message) is not."""

from dataclasses import dataclass
from typing import Optional

from kernel.mm.access import Agent, Intent, access
from kernel.mm.vm import UserFault
from tools.observe.debuginfo import line_table
from tools.race.watch import decode

WORD = 4


@dataclass
class Write:
    count: int                   # the writing instruction's number
    pid: int
    tid: Optional[int]
    program: str
    eip: int
    insn: Optional[str]
    old: int
    new: int
    where: Optional[str] = None  # file:line of a C program


class LastWrites:
    """Every guest write to the word at physical `pa` up to instruction
    count `before` (None: the whole run)."""

    def __init__(self, k, pa, before=None):
        self.k, self.pa, self.before = k, pa, before
        self.writes = []
        for cpu in k.hw.cpus:
            cpu.add_write_hook(
                lambda a, size, value, cpu=cpu: self._write(cpu, a, size,
                                                            value),
                pa, pa + WORD - 1)

    def _write(self, cpu, addr, size, value):
        count = self.k.hw.instructions
        if self.before is not None and count > self.before:
            return
        old = self.k.hw.read(self.pa, WORD)
        new = bytearray(old)
        for i in range(size):
            if 0 <= addr + i - self.pa < WORD:
                new[addr + i - self.pa] = value >> 8 * i & 0xFF
        p, t = self.k.current, getattr(self.k, "thread", None)
        eip = cpu.reg("eip")
        self.writes.append(Write(
            count, p.pid, t.tid if t is not None else None, p.name, eip,
            decode(p, eip)[1], int.from_bytes(old, "little"),
            int.from_bytes(new, "little")))

    def last(self, n):
        """The last n writes, oldest first, with file:line where known."""
        out = self.writes[-n:] if n else []
        for w in out:
            image = self.k.programs.get(w.program)
            w.where = line_table(getattr(image, "elf", b"") or b"").line(
                w.eip)
        return out


class Locate:
    """Where virtual address `va` of process `pid` is in physical memory:
    the frame behind it at the end of pid's last slice up to count
    `before` (or, when it had none by then, of its first slice after)."""

    def __init__(self, k, pid, va, before=None):
        self.k, self.pid, self.va, self.before = k, pid, va, before
        self.pa = None
        k.attach(self)

    def on_slice_end(self, cpu, p, *rest):
        if p.pid != self.pid or p.aspace is None:
            return
        upto = self.before is None or self.k.hw.instructions <= self.before
        if not upto and self.pa is not None:
            return
        try:          # as a debugger reads it: no frame is taken
            pa = access(p.aspace, self.va, 1, Intent.READ, Agent.DEBUGGER)
        except UserFault:
            return
        if pa and pa[0][0] is not None:
            self.pa = pa[0][0]


def text(writes, pa, before, asked=""):
    """The report: a heading, then one line per write, oldest first."""
    upto = f" up to instruction {before}" if before is not None else ""
    lines = [f"last {len(writes)} write(s) to physical word {pa:#010x}"
             f"{asked}{upto}:"]
    for w in writes:
        who = f"pid {w.pid}" + (f" tid {w.tid}" if w.tid not in
                                (None, w.pid) else "")
        lines.append(
            f"  #{w.count} {who} ({w.program}) eip {w.eip:#010x} "
            f"{w.insn or '?'}: {w.old:#010x} -> {w.new:#010x}"
            + (f"  [{w.where}]" if w.where else ""))
    return "\n".join(lines) + "\n"


def as_json(writes):
    return [{"count": w.count, "pid": w.pid, "tid": w.tid, "eip": w.eip,
             "instruction": w.insn, "old": w.old, "new": w.new,
             "line": w.where} for w in writes]
