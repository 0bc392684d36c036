"""The debugger's `monitor` commands: the kernel's own views (processes,
memory maps, page walks and tables, frames, shared segments, physical
memory, what a CPU's TLB may hold) as text, from tools/observe."""

from emu.walk import FETCH, READ, WRITE, format_walk
from kernel.mm.access import Intent, look
from tools.debug.tlbview import tlb_text
from tools.observe.ipcs import ipcs_text
from tools.observe.legend import legend
from tools.debug.stops import DebugError
from tools.observe.maps import maps_text
from tools.observe.ptdump import frame_map_text, page_table_text

ACCESS_WORDS = {"read": READ, "write": WRITE, "exec": FETCH,
                "execute": FETCH, "fetch": FETCH}
XP_DEFAULT, XP_MAX, XP_ROW = 64, 4096, 16


class Monitor:
    """The monitor commands over one kernel's processes."""

    def __init__(self, k, procs):
        self.k = k
        self.procs = procs
        self.checkpoints = None      # tools.debug.checkpoints, when kept

    def run(self, line, current=None):
        """Run a `monitor` command; returns its text. current: the pid of
        gdb's current thread (the default for commands taking a PID)."""
        words = line.split()
        if not words or words[0] == "help":
            return MONITOR_HELP
        cmd = MONITOR.get(words[0])
        if cmd is None:
            raise DebugError(f"unknown monitor command {words[0]!r} "
                             "(try 'monitor help')")
        fn, nargs, usage = cmd
        if nargs is None:                    # it reads its own words
            self.current = current
            return fn(self, words[1:]).rstrip("\n") + "\n"
        args = _numbers(words[1:], line)
        if len(args) != nargs:
            raise DebugError(f"usage: {usage}")
        return fn(self, *args).rstrip("\n") + "\n"

    def ps(self):
        rows = [f"{'PID':>4} {'PPID':>4} {'UID':>4}  {'NAME':<16} STATE"]
        for pid in self.procs.pids():
            p = self.k.procs.get(pid)
            rows.append(f"{p.pid:>4} {p.parent:>4} {p.uid:>4}  {p.name:<16} "
                        f"{self.procs.state_text(pid)}")
        for pid, f in self.procs.faults.items():
            cr2 = "" if f["cr2"] is None else f" cr2={f['cr2']:#010x}"
            rows.append(f"pid {pid} stopped at vector {f['vector']} eip "
                        f"{f['eip']:#010x} ({f['instruction']}){cr2}")
        return "\n".join(rows)

    def _aspace(self, pid):
        p = self.procs.get(pid)
        if p.aspace is None:
            raise DebugError(f"pid {pid} has exited: no address space")
        return p

    def maps(self, pid):
        return maps_text(self._aspace(pid))

    def walk(self, words):
        """walk [PID] VA [read|write|exec]: the current thread's process
        without a PID; a read without an access kind."""
        access = READ
        if words and words[-1].lower() in ACCESS_WORDS:
            access = ACCESS_WORDS[words.pop().lower()]
        nums = _numbers(words, "walk")
        if len(nums) == 1 and self.current:
            nums.insert(0, self.current)
        if len(nums) != 2:
            raise DebugError("usage: walk [PID] VA [read|write|exec]")
        pid, va = nums
        p = self._aspace(pid)
        w = look(p.aspace, va, Intent.of(access))
        return f"pid {pid} va {va:#010x}: {access}: " + format_walk(w)

    def xp(self, words):
        """xp ADDR [LEN]: physical memory, 16 bytes a row, hex and ASCII."""
        nums = _numbers(words, "xp")
        if len(nums) not in (1, 2):
            raise DebugError("usage: xp ADDR [LEN]")
        pa, n = nums[0], nums[1] if len(nums) == 2 else XP_DEFAULT
        size = self.k.hw.memory
        if not (0 <= pa < size and 0 < n <= XP_MAX and pa + n <= size):
            raise DebugError(f"xp: [{pa:#x}, +{n:#x}) is not inside "
                             f"physical memory [0, {size:#x}) (LEN at most "
                             f"{XP_MAX})")
        data = self.k.hw.read(pa, n)
        return "\n".join(_hex_row(pa + i, data[i:i + XP_ROW])
                         for i in range(0, n, XP_ROW))

    def tlb(self, words):
        """tlb [CPU]: what that CPU's TLB may hold (default: the CPU of the
        current thread, else CPU 0)."""
        nums = _numbers(words, "tlb")
        if len(nums) > 1:
            raise DebugError("usage: tlb [CPU]")
        ncpus = len(self.k.sched.percpu)
        index = nums[0] if nums else self._cpu_of(self.current)
        if not 0 <= index < ncpus:
            raise DebugError(f"tlb: no cpu {index} (0-{ncpus - 1})")
        return tlb_text(self.k, index)

    def legend(self):
        return legend(self.k.vm.mode)

    def _cpu_of(self, tid):
        for i, pc in enumerate(self.k.sched.percpu):
            if pc.loaded is not None and pc.loaded.tid == tid:
                return i
        return 0

    def pt(self, pid):
        return page_table_text(pid, self._aspace(pid).aspace, "now")

    def frames(self):
        return frame_map_text(list(self.k.procs), self.k.frames, "now")

    def ipcs(self):
        return ipcs_text(self.k.shm)

    def checkpoints_text(self):
        ck = self.checkpoints
        if ck is None:
            return ("no checkpoints: going back replays from boot "
                    "(--checkpoint-every N keeps some)")
        counts = ", ".join(str(c.count) for c in ck.taken) or "none yet"
        return (f"{len(ck.taken)} checkpoints (one every {ck.every} "
                f"instructions), at: {counts}; host memory of their own: "
                f"{ck.memory() / (1 << 20):.1f} MiB")

    def count(self):
        n = self.k.hw.instructions
        return ("instructions run: not counted (run with --seed or "
                "--quantum)" if n is None else f"instructions run: {n}")


def _numbers(words, line):
    try:
        return [int(w, 0) for w in words]
    except ValueError:
        raise DebugError(f"bad number in {line!r}") from None


def _hex_row(pa, chunk):
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
    return f"{pa:#010x}: {chunk.hex(' '):<47}  {text}"


MONITOR = {
    "ps": (Monitor.ps, 0, "ps"),
    "maps": (Monitor.maps, 1, "maps PID"),
    "walk": (Monitor.walk, None, "walk [PID] VA [read|write|exec]"),
    "pt": (Monitor.pt, 1, "pt PID"),
    "frames": (Monitor.frames, 0, "frames"),
    "ipcs": (Monitor.ipcs, 0, "ipcs"),
    "xp": (Monitor.xp, None, "xp ADDR [LEN]"),
    "tlb": (Monitor.tlb, None, "tlb [CPU]"),
    "legend": (Monitor.legend, 0, "legend"),
    "count": (Monitor.count, 0, "count"),
    "checkpoints": (Monitor.checkpoints_text, 0, "checkpoints"),
}
MONITOR_HELP = """monitor commands:
  ps            every process: pid, parent, uid, name, state
  maps PID      PID's memory map (regions and shared frames)
  walk [PID] VA [read|write|exec]
                the page walk of VA through PID's tables (the current
                thread's process without PID) for that access (read
                without one), as in traces: the entries, then the
                physical address or the #PF it raises
  pt PID        PID's page directory and tables, merged into ranges
  frames        every physical frame live page tables name, with owners
  ipcs          the shared memory segments
  xp ADDR [LEN] physical memory at ADDR: LEN bytes (default 64, at most
                4096), 16 a row, in hex and ASCII
  tlb [CPU]     what that CPU's TLB may hold (default: the CPU running
                the current thread, else 0): the thread loaded there,
                whether shootdown is on, its accessed pages, its
                translated code
  legend        what the notation of maps, walks and pt means
  count         the instructions run so far (the time of a --seed or
                --quantum run: --last-writes --before takes it)
  checkpoints   the checkpoints kept for going back, and their host memory
  help          this text
"""
