"""What stops a process from inside a run: breakpoints, watchpoints and a
single step, each a set of hooks on every CPU. A hit hands its Stop to
`stops` (the target), which serves it when the CPU's run ends; while the
target replays the run toward a place in its past, a hit is only recorded
(`stops.record`)."""

from dataclasses import dataclass, field

from emu.walk import READ, WRITE
from emu.x86 import PAGE_SIZE
from tools.debug import reverse
from tools.debug.stops import DebugError, Reason, Stop, WatchKind


class Breakpoints:
    """Code hooks on addresses, never bytes written into (possibly shared)
    program text: a breakpoint stops any process that executes it."""

    def __init__(self, k, stops):
        self.k = k
        self.stops = stops
        self.hooks = {}              # va -> [hook handle per CPU]
        self.skip = None             # (pid, eip) to pass over once

    def add(self, va):
        """Stop any process before it executes va (no byte is written)."""
        if va in self.hooks:
            return
        self.hooks[va] = [
            cpu.add_code_hook(lambda a, cpu=cpu: self._hit(cpu, a), va, va)
            for cpu in self.k.hw.cpus]

    def remove(self, va):
        for cpu, h in zip(self.k.hw.cpus, self.hooks.pop(va, ())):
            cpu.remove_hook(h)

    def clear(self):
        for va in list(self.hooks):
            self.remove(va)

    def pass_over(self, pid, eip):
        """A process resumed at a breakpoint's address (eip; None when it
        is gone) runs that instruction instead of stopping there again."""
        self.skip = (pid, eip) if eip in self.hooks else None

    def _hit(self, cpu, address):
        p = self.k.current
        if p is None or not p.alive or self.stops.pending is not None:
            return
        if self.stops.replaying():   # counted already: it has not run
            self.stops.record(reverse.breakpoint_hit(
                self.k.hw.instructions - 1, self.k.thread.tid))
            return
        tid = self.k.thread.tid
        if self.skip == (tid, address):
            self.skip = None
            return
        self.stops.stop_now(cpu, Stop(tid, Reason.BREAKPOINT))


@dataclass
class Watch:
    pid: int
    va: int
    length: int
    kind: WatchKind
    pa: int
    handles: list = field(default_factory=list)


class Watchpoints:
    """Hooks on the physical bytes behind an address of one process: they
    stop whichever process touches them, through whatever virtual address.
    gdb removes its watchpoints at every stop and inserts them again from
    the thread that stopped: an address that thread does not map keeps
    the physical bytes it watched when first set."""

    def __init__(self, k, stops, memory):
        self.k = k
        self.stops = stops
        self.memory = memory
        self.watches = {}            # (va, length, kind) -> Watch
        self.known = {}              # the same, once set (removed or not)

    def add(self, pid, va, length, kind):
        """Watch the physical bytes behind [va, va+length) of pid: any
        process's access of that kind stops it."""
        if not isinstance(kind, WatchKind) or not 1 <= length <= PAGE_SIZE:
            raise DebugError("bad watchpoint")
        key = (va, length, kind)
        if key in self.watches:
            return
        try:
            pages = self._frame(pid, va, length)
        except DebugError:
            if key not in self.known:
                raise
            self.install(self.known[key])   # gdb inserting it again
            return
        if len(pages) != 1:
            raise DebugError("a watchpoint may not cross a page boundary")
        self.install(Watch(pid, va, length, kind, pages[0][0]))

    def install(self, w):
        """Hook the physical bytes of w (a Watch of this run; its handles
        are this machine's from now on)."""
        reads, writes = w.kind != WatchKind.WRITE, w.kind != WatchKind.READ
        w = Watch(w.pid, w.va, w.length, w.kind, w.pa)
        for cpu in self.k.hw.cpus:
            w.handles.append(cpu.add_mem_hook(
                lambda wr, pa, size, cpu=cpu, w=w: self._hit(cpu, w),
                w.pa, w.pa + w.length - 1, reads, writes))
            cpu.stop_after_access(True)
        self.watches[(w.va, w.length, w.kind)] = w
        self.known[(w.va, w.length, w.kind)] = w

    def _frame(self, pid, va, length):
        """The pieces of the frame pid's own accesses to [va, va+length)
        reach: a page it shares copy-on-write (after fork, or program text
        shared by the text cache) is copied for it now, as its first store
        would copy it, so that store lands in the watched frame; a page it
        may only read is watched where it is."""
        try:
            return self.memory.pages(pid, va, length, WRITE)
        except DebugError:
            return self.memory.pages(pid, va, length, READ, key=True)

    def remove(self, va, length, kind):
        w = self.watches.pop((va, length, kind), None)
        if w is not None:
            for cpu, h in zip(self.k.hw.cpus, w.handles):
                cpu.remove_hook(h)
                cpu.stop_after_access(bool(self.watches))

    def clear(self):
        for key in list(self.watches):
            self.remove(*key)

    def _hit(self, cpu, w):
        p = self.k.current
        if p is None or self.stops.pending is not None:
            return
        if self.stops.replaying():   # the access's instruction has run
            self.stops.record(reverse.watch_hit(self.k.hw.instructions,
                                                self.k.thread.tid, w))
            return
        self.stops.stop_next(cpu, Stop(self.k.thread.tid, Reason.WATCHPOINT,
                                       w.va, w.kind))


class Step:
    """Let one process run one instruction, then stop it; the others run
    on as they would (their slices are unchanged)."""

    def __init__(self, k, stops):
        self.k = k
        self.stops = stops
        self.pid = None
        self.seen = False            # the stepped process ran one insn
        self.hooks = []

    def start(self, pid):
        """Step thread pid (a tid); no such live thread: run on."""
        t = self.k.procs.thread(pid)
        if t is None or not t.alive:
            return
        self.pid, self.seen = pid, False
        self.hooks = [cpu.add_code_hook(lambda a, cpu=cpu: self._hook(cpu))
                      for cpu in self.k.hw.cpus]

    def clear(self):
        for cpu, h in zip(self.k.hw.cpus, self.hooks):
            cpu.remove_hook(h)
        if self.hooks:
            self.k.hw.flush_code()   # drop the per-instruction hook calls
        self.hooks, self.pid = [], None

    def _hook(self, cpu):
        t = self.k.thread
        if t is None or t.tid != self.pid or self.stops.pending is not None:
            return
        if not self.seen:
            self.seen = True
            return
        self.stops.stop_now(cpu, Stop(t.tid, Reason.STEP))
