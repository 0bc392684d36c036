"""The seam fuzzer's debugger (tools/fuzz/seams.py): a client of the
debugging interface (tools/debug/target.py) that, at each stop, makes
random requests a debugger may make, and reports answers a sound debugger
never gives."""

import random

from kernel.memlayout import KERNBASE
from tools.debug.stops import DebugError, Reason, Resume, WatchKind
from tools.debug.target import Debugger
from tools.fuzz import hostile

HUGE_AT = 0x20000000        # seam programs' large-page attachments,
MB = 1 << 20                # 4 MiB-aligned, from here up
DATA_TAIL = 4096            # bytes after a seam program's data pages
RING3_NEVER = 0x20000 | 0x3000      # EFLAGS.VM, EFLAGS.IOPL
TRAPPED = (256 + 1,)        # killed by the trap flag a debugger set
GPRS_WRITTEN = ("eax", "ebx", "edx", "edi")
KERNEL_EFLAGS = (0x20000, 0x3000, 0x1000, 0x4000, 0x80000, 0x100000,
                 0x10000, 0x100)    # VM, IOPL, NT, VIF, VIP, RF; TF


class DebugFuzz:
    """A debugger client that, at each stop up to a budget, makes random
    requests of the debugging interface (tools/debug/target.py): memory
    reads and writes (each write read back), watchpoints, breakpoints,
    register writes (EFLAGS with VM, IOPL... which must not be taken;
    segment registers, which are read-only). Only DebugError is an
    acceptable refusal; anything else, or a read-back that differs, is a
    finding. Processes other than pid 1 (the canary) are its targets."""

    def __init__(self, dbg, seed, data, budget=40):
        self.dbg, self.rng = dbg, random.Random(seed)
        self.data = data            # pid -> the address of its data pages
        self.budget, self.found = budget, []
        self.unhit = set()          # pids whose STEP watch has not stopped

    def on_stop(self, stop):
        self.budget -= 1
        if self.budget < 0:
            return Resume(detach=True)
        if stop.reason is Reason.START:     # stop at moves of two of them
            for pid in self.rng.sample(sorted(self.data),
                                       min(2, len(self.data))):
                self._watch_step(pid)
        if stop.reason is Reason.WATCHPOINT and \
                stop.address == self.data.get(stop.pid, 0) + hostile.STEP:
            self.unhit.discard(stop.pid)
        for _ in range(self.rng.randrange(1, 5)):
            pids = [p for p in self.dbg.threads() if p > 1 and
                    self.dbg.alive(p)]
            if pids:
                self._act(self.rng.choice(pids))
        return Resume()

    def on_exit(self, status):
        pass

    def _watch_step(self, pid):
        """A write watchpoint on pid's STEP word, expected to stop pid
        unless one at that address (another process's) was already set."""
        n = len(self.dbg.watchpoints.watches)
        try:
            self.dbg.add_watchpoint(pid, self.data[pid] + hostile.STEP, 4,
                                    WatchKind.WRITE)
        except DebugError:              # not a SeamWriter program
            return
        if len(self.dbg.watchpoints.watches) > n:
            self.unhit.add(pid)

    def missed(self, k):
        """Findings: a watched STEP word (every program's second
        instruction stores to it) its process stored to without a stop,
        while the client was still attached."""
        if self.budget < 0:
            return []
        return [f"pid {pid}'s write watchpoint at {self.data[pid] + hostile.STEP:#x}"
                " never stopped it" for pid in sorted(self.unhit)
                if k.procs.get(pid) is not None and
                k.procs.get(pid).status not in TRAPPED]

    def _act(self, pid):
        what = self.rng.choice(("read", "write", "watch", "break", "reg",
                                "reg"))
        try:
            getattr(self, "_" + what)(pid)
        except DebugError:
            pass
        except Exception as e:  # noqa: BLE001 - a finding
            self.found.append(f"debugger {what} on pid {pid} raised "
                              f"{type(e).__name__}: {e}")

    def address(self, pid):
        rng = self.rng
        data = self.data.get(pid, 0x400000)
        return rng.choice((
            data + rng.randrange(0, 8192), data + hostile.STEP,
            hostile.SHMA + rng.randrange(0, 1 << 16),
            HUGE_AT + rng.randrange(8) * 4 * MB + rng.randrange(0, 4 * MB),
            0xBFFFF000 + rng.randrange(0, 4096), KERNBASE + 0x1000,
            0x00800000, 0x400000 + rng.randrange(0, 4096)))

    def _read(self, pid):
        self.dbg.read_memory(pid, self.address(pid),
                             self.rng.choice((1, 4, 16, 4096, 5000)))

    def _write(self, pid):
        """A write, read back. Into a large-page attachment it writes what
        it read there (a guest check compares those bytes), elsewhere
        random bytes where no guest check looks."""
        rng = self.rng
        n = rng.choice((1, 4, 8))
        if rng.random() < 0.5:
            va = HUGE_AT + rng.randrange(8) * 4 * MB + \
                rng.randrange(0, 4 * MB - 16)
            blob = self.dbg.read_memory(pid, va, n)
        else:
            va = rng.choice((hostile.SHMA + rng.randrange(0, 1 << 16),
                             self.data.get(pid, 0x800000)
                             + rng.randrange(0, 4096)))
            blob = rng.randbytes(n)
        self.dbg.write_memory(pid, va, blob)
        back = self.dbg.read_memory(pid, va, len(blob))
        if back != blob:
            self.found.append(f"debugger wrote {blob.hex()} at pid {pid} "
                              f"{va:#x}, read back {back.hex()}")

    def _watch(self, pid):
        kind = self.rng.choice(list(WatchKind))
        self.dbg.add_watchpoint(pid, self.address(pid),
                                self.rng.choice((1, 2, 4)), kind)

    def _break(self, pid):
        self.dbg.add_breakpoint(0x400000 + self.rng.randrange(0, 2048))

    def _reg(self, pid):
        """A register write that must not change what the guest computes
        (its checks compare registers and flags): a general register gets
        its own value, EFLAGS its own plus bits ring 3 cannot set (VM,
        IOPL, VIF, VIP, RF, NT: masked) or the trap flag; a segment register
        any value (read-only: refused unless unchanged)."""
        rng = self.rng
        name = rng.choice(("eflags", "eflags", "cs", "ss", "ds") +
                          GPRS_WRITTEN)
        old = self.dbg.read_register(pid, name)
        if name == "eflags":
            value = old
            for bit in rng.sample(KERNEL_EFLAGS, rng.randrange(1, 4)):
                value |= bit
        else:
            value = old if name in GPRS_WRITTEN else rng.getrandbits(16)
        self.dbg.write_register(pid, name, value)
        back = self.dbg.read_register(pid, name)
        if name == "eflags" and back & RING3_NEVER:
            self.found.append(f"debugger set pid {pid}'s EFLAGS to "
                              f"{back:#x} (vm86 or IOPL)")
        elif name in GPRS_WRITTEN and back != value:
            self.found.append(f"debugger wrote {name} = {value:#x} of pid "
                              f"{pid}, read back {back:#x}")


def attach_debugger(k, seed, images):
    """A Debugger with a DebugFuzz client on booted kernel k, stopped once
    at the start (images: the programs, for their data addresses)."""
    dbg = Debugger(k)
    data = {}
    for p in k.procs:
        img = images.get(p.name)
        if img is not None and p.pid > 1:
            seg = img.segments[0]
            data[p.pid] = seg.va + len(seg.data) - 8192 - DATA_TAIL
    dbg.client = DebugFuzz(dbg, seed, data)
    dbg.first_stop()
    return dbg




def findings(k, dbg):
    """The client's findings once the run is over (the debugger is told
    the run ended)."""
    c = dbg.client
    dbg.finished(0)
    return c.found + c.missed(k) if isinstance(c, DebugFuzz) else []
