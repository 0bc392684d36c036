"""The debugger's `monitor` commands: the kernel's own views (processes,
memory maps, page walks and tables, frames, shared segments) as text, from
tools/observe."""

from emu.walk import format_walk
from kernel.mm.access import look
from tools.observe.ipcs import ipcs_text
from tools.debug.stops import DebugError
from tools.observe.maps import maps_text
from tools.observe.ptdump import frame_map_text, page_table_text


class Monitor:
    """The monitor commands over one kernel's processes."""

    def __init__(self, k, procs):
        self.k = k
        self.procs = procs
        self.checkpoints = None      # tools.debug.checkpoints, when kept

    def run(self, line):
        """Run a `monitor` command; returns its text."""
        words = line.split()
        if not words or words[0] == "help":
            return MONITOR_HELP
        cmd = MONITOR.get(words[0])
        if cmd is None:
            raise DebugError(f"unknown monitor command {words[0]!r} "
                             "(try 'monitor help')")
        try:
            args = [int(w, 0) for w in words[1:]]
        except ValueError:
            raise DebugError(f"bad number in {line!r}") from None
        if len(args) != cmd[1]:
            raise DebugError(f"usage: {cmd[2]}")
        return cmd[0](self, *args).rstrip("\n") + "\n"

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

    def walk(self, pid, va):
        p = self._aspace(pid)
        return f"pid {pid} va {va:#010x}: " + format_walk(look(p.aspace, va))

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


MONITOR = {
    "ps": (Monitor.ps, 0, "ps"),
    "maps": (Monitor.maps, 1, "maps PID"),
    "walk": (Monitor.walk, 2, "walk PID VA"),
    "pt": (Monitor.pt, 1, "pt PID"),
    "frames": (Monitor.frames, 0, "frames"),
    "ipcs": (Monitor.ipcs, 0, "ipcs"),
    "count": (Monitor.count, 0, "count"),
    "checkpoints": (Monitor.checkpoints_text, 0, "checkpoints"),
}
MONITOR_HELP = """monitor commands:
  ps            every process: pid, parent, uid, name, state
  maps PID      PID's memory map (regions and shared frames)
  walk PID VA   the page walk of VA through PID's tables (as in traces)
  pt PID        PID's page directory and tables, merged into ranges
  frames        every physical frame live page tables name, with owners
  ipcs          the shared memory segments
  count         the instructions run so far (the time of a --seed or
                --quantum run: --last-writes --before takes it)
  checkpoints   the checkpoints kept for going back, and their host memory
  help          this text
"""
