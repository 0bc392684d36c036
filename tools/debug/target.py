"""The kernel's debugging interface: what a debugger (tools/debug/gdbstub.py) may
ask of a running machine, in the kernel's own terms.

Every process is a thread of the debugger. Its registers are read from the
CPU that holds it, or from its saved context; its memory is read and
written through its own page tables with user rights (an address it cannot
access is an error, never physical memory, never another process's).
Breakpoints are code hooks on the address, never bytes written into
(possibly shared) program text, so they stop any process that executes
that address. Watchpoints watch the physical bytes behind an address of
one process: a hook on that physical range stops whichever process touches
it, through whatever virtual address. A fault that would kill a process
stops it first.

The debugger (the "client") is called back at every stop with a Stop and
answers how to go on: a Resume. It never touches the scheduler; between
stops it talks to this object only.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from emu import x86
from emu.walk import READ, WRITE, format_walk
from emu.x86 import PAGE_SIZE
from tools.observe.maps import maps_text
from kernel.proc.process import ProcState
from tools.observe.ptdump import frame_map_text, page_table_text
from kernel.ipc.shm import ipcs_text
from kernel.mm.vm import NoMemory, UserFault

SIGINT, SIGILL, SIGTRAP, SIGFPE, SIGSEGV = 2, 4, 5, 8, 11
FAULT_SIGNALS = {x86.T_DIVIDE: SIGFPE, x86.T_DEBUG: SIGTRAP,
                 x86.T_ILLOP: SIGILL, 16: SIGFPE, 19: SIGFPE}  # else SIGSEGV
CORE_REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
             "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs")
CONTROL_REGS = ("cr0", "cr2", "cr3", "cr4")
SEGMENT_REGS = ("cs", "ss", "ds", "es", "fs", "gs")
WATCH_KINDS = ("watch", "rwatch", "awatch")
INTERRUPT_RETRY = 0.02           # seconds between stop requests (Ctrl-C)


def untouched_frame(region, va):
    """The frame a not-present page of region would get on first touch if
    it exists already (a shared segment's page another process touched),
    else None (a zero-filled page to be)."""
    seg = region.obj if region.kind == "shm" else None
    if seg is None:
        return None
    return seg.frames[(va - region.start) // PAGE_SIZE] or None


class DebugError(Exception):
    """A request the machine cannot honour (bad pid, address, register)."""


class EndRun(Exception):
    """The debugger asked to end the whole run (gdb's kill)."""


@dataclass
class Stop:
    """Why the machine stopped: the process that stopped and a signal;
    reason is "swbreak" or a watch kind (then address is the watched
    address as it was set), or "" for a step, an interrupt or a fault."""
    pid: int
    signal: int
    reason: str = ""
    address: Optional[int] = None


@dataclass
class Resume:
    """How to go on after a stop: run freely, step one process by one
    instruction, detach (forget every breakpoint and run freely), or end
    the run."""
    step_pid: Optional[int] = None
    detach: bool = False
    kill: bool = False


@dataclass
class Watch:
    pid: int
    va: int
    length: int
    kind: str
    pa: int
    handles: list = field(default_factory=list)


class Debugger:
    """The debugging interface of one kernel, and its hooks on every CPU."""

    def __init__(self, k):
        self.k = k
        self.client = None           # .on_stop(Stop) -> Resume
        self.pending = None          # a Stop a hook asked for
        self.interrupt_requested = False
        self.breakpoints = {}        # va -> [hook handle per CPU]
        self.watches = {}            # (va, length, kind) -> Watch
        self.step_pid = None
        self.step_seen = False       # the stepped process ran one insn
        self.step_hooks = []
        self.skip = None             # (pid, eip) to pass over once
        self.faults = {}             # pid -> fault dict while stopped in it
        self.ended = False
        self._interrupter = None     # the thread repeating an interrupt
        for cpu in k.hw.cpus:
            if k.sched.counting and cpu.counter is None:
                cpu.count_instructions()    # before any debug hook
            cpu.on_stopped = lambda cpu=cpu: self._after_run(cpu)
        k.attach(self)

    # -- processes ---------------------------------------------------------
    def threads(self):
        """The pids of every process not yet reaped, in order."""
        return [p.pid for p in self.k.procs if not p.reaped]

    def alive(self, pid):
        p = self.k.procs.get(pid)
        return p is not None and not p.reaped

    def name(self, pid):
        return self._proc(pid).name

    def state_text(self, pid):
        """'running', 'runnable', 'blocked: <on what>', 'zombie (status
        N)', with ' (stopped at a fault)' while stopped before a kill."""
        p = self._proc(pid)
        if p.state is ProcState.BLOCKED and p.wait_on is not None:
            text = f"blocked: {p.wait_on.describe}"
        elif p.state is ProcState.ZOMBIE:
            text = f"zombie (status {p.status})"
        else:
            text = p.state.value
        return text + (" (stopped at a fault)" if pid in self.faults else "")

    def _proc(self, pid):
        p = self.k.procs.get(pid)
        if p is None or p.reaped:
            raise DebugError(f"no process {pid}")
        return p

    # -- registers ---------------------------------------------------------
    def _live_cpu(self, p):
        """The CPU whose live registers are p's, or None (then p.ctx)."""
        for pc in self.k.sched.percpu:
            if pc.loaded is p and not (pc.cpu is self.k.cpu and
                                       self.k.switch):
                return pc.cpu
        return None

    def read_register(self, pid, name):
        p = self._proc(pid)
        if name not in CORE_REGS + CONTROL_REGS:
            raise DebugError(f"no register {name}")
        if name == "eip" and pid in self.faults:
            return self.faults[pid]["eip"]
        cpu = self._live_cpu(p)
        return cpu.reg(name) if cpu else p.ctx.get(name)

    def write_register(self, pid, name, value):
        """Write a general register, EIP or EFLAGS (segment and control
        registers are the kernel's: an error unless unchanged)."""
        p = self._proc(pid)
        value &= 0xFFFFFFFF
        if name not in CORE_REGS or name in SEGMENT_REGS or \
                pid in self.faults or not p.alive:
            if self.read_register(pid, name) == value:
                return
            raise DebugError(f"register {name} of pid {pid} is read-only")
        cpu = self._live_cpu(p)
        if cpu:
            cpu.set_reg(name, value)
        else:
            p.ctx.set(name, value)

    # -- memory ------------------------------------------------------------
    def _pages(self, pid, va, n, access, fault_in=False):
        """[(pa, length)] for [va, va+n) through pid's own tables with user
        rights; DebugError where pid may not access it. A page pid may use
        but has not touched yet reads as that touch would show it (pa None:
        zero-filled to be); with fault_in (writes, watchpoints) it gets its
        frame: a shared page in its segment only (so pid's own first touch
        still faults, and the run's instruction count stays the same), a
        private page as pid's own first touch would."""
        p = self._proc(pid)
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
        if fault_in and r.kind == "shm":    # the segment takes the frame;
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

    def read_memory(self, pid, va, n):
        hw = self.k.hw
        return b"".join(bytes(ln) if pa is None else hw.read(pa, ln)
                        for pa, ln in self._pages(pid, va, n, READ))

    def write_memory(self, pid, va, data):
        """Write through pid's tables with user rights, all or nothing;
        translated code is dropped so every CPU runs the new bytes."""
        i = 0
        for pa, ln in self._pages(pid, va, len(data), WRITE, fault_in=True):
            self.k.hw.write(pa, data[i:i + ln])
            i += ln
        self.k.hw.flush_code()

    # -- breakpoints and watchpoints ---------------------------------------
    def add_breakpoint(self, va):
        """Stop any process before it executes va (no byte is written)."""
        if va in self.breakpoints:
            return
        self.breakpoints[va] = [
            cpu.add_code_hook(lambda a, cpu=cpu: self._bp_hit(cpu, a), va, va)
            for cpu in self.k.hw.cpus]

    def remove_breakpoint(self, va):
        for cpu, h in zip(self.k.hw.cpus, self.breakpoints.pop(va, ())):
            cpu.remove_hook(h)

    def _bp_hit(self, cpu, address):
        p = self.k.current
        if p is None or not p.alive or self.pending is not None:
            return
        if self.skip == (p.pid, address):
            self.skip = None
            return
        self._stop_now(cpu, Stop(p.pid, SIGTRAP, "swbreak"))

    def add_watchpoint(self, pid, va, length, kind):
        """Watch the physical bytes behind [va, va+length) of pid: any
        process's access of that kind stops it (kind: watch = writes,
        rwatch = reads, awatch = both)."""
        if kind not in WATCH_KINDS or not 1 <= length <= PAGE_SIZE:
            raise DebugError("bad watchpoint")
        pages = self._pages(pid, va, length, READ, fault_in=True)
        if len(pages) != 1:
            raise DebugError("a watchpoint may not cross a page boundary")
        key = (va, length, kind)
        if key in self.watches:
            return
        w = Watch(pid, va, length, kind, pages[0][0])
        reads, writes = kind != "watch", kind != "rwatch"
        for cpu in self.k.hw.cpus:
            w.handles.append(cpu.add_mem_hook(
                lambda wr, pa, size, cpu=cpu, w=w: self._watch_hit(cpu, w, wr),
                w.pa, w.pa + length - 1, reads, writes))
            cpu.stop_after_access(True)
        self.watches[key] = w

    def remove_watchpoint(self, va, length, kind):
        w = self.watches.pop((va, length, kind), None)
        if w is not None:
            for cpu, h in zip(self.k.hw.cpus, w.handles):
                cpu.remove_hook(h)
                cpu.stop_after_access(bool(self.watches))

    def _watch_hit(self, cpu, w, is_write):
        """An access to a watched frame: stop before the accessor's next
        instruction (stopping inside this one would make the CPU repeat
        it)."""
        p = self.k.current
        if p is None or self.pending is not None:
            return
        self.pending = Stop(p.pid, SIGTRAP, w.kind if w.kind != "awatch"
                            or is_write else "awatch", w.va)
        cpu.stop_next()

    # -- running -----------------------------------------------------------
    def _stop_now(self, cpu, stop):
        """From a code hook: stop before this instruction runs."""
        self.pending = stop
        cpu.uncount()
        cpu.stop()

    def interrupt(self):
        """Stop the machine soon (any thread may call this: Ctrl-C). The
        CPUs are asked to stop every INTERRUPT_RETRY seconds until one has
        (a stop that lands between two runs is lost); nothing is added to
        the guest's path, so an attached debugger costs no speed."""
        self.interrupt_requested = True
        t = self._interrupter
        if t is None or not t.is_alive():
            self._interrupter = threading.Thread(target=self._interrupt_loop,
                                                 daemon=True)
            self._interrupter.start()

    def _interrupt_loop(self):
        while self.interrupt_requested and not self.ended:
            for cpu in self.k.hw.cpus:
                cpu.stop_from_another_thread()
            time.sleep(INTERRUPT_RETRY)

    def _after_run(self, cpu):
        """Called by a CPU after each run: serve a pending stop; True to
        let the same slice go on (so the interleaving stays as it was)."""
        if self.pending is None and not self.interrupt_requested:
            return False
        stop = self.pending or self._interrupt_stop()
        self.pending, self.interrupt_requested = None, False
        for c in self.k.hw.cpus:
            c.stop_next(armed=False)
        used_up = cpu.slice_used_up()
        self._serve(stop)
        p = self.k.current
        return not (self.k.switch or used_up or p is None or not p.alive)

    def _interrupt_stop(self):
        """Ctrl-C: stop names the process that was running, or (when it has
        just ended) the first live one."""
        p = self.k.current
        if p is not None and p.alive:
            return Stop(p.pid, SIGINT)
        live = [q.pid for q in self.k.procs if q.alive]
        return Stop(live[0] if live else p.pid if p else 1, SIGINT)

    def _serve(self, stop):
        """Hand a stop to the client and apply its answer."""
        if self.client is None:
            return Resume()
        self._clear_step()
        resume = self.client.on_stop(stop)
        if resume.kill:
            raise EndRun("killed from the debugger")
        if resume.detach:
            self.detach()
        elif resume.step_pid is not None:
            self._start_step(resume.step_pid)
        self._skip_breakpoint_at_resume(stop.pid)
        return resume

    def _skip_breakpoint_at_resume(self, pid):
        """A process stopped on a breakpoint's address runs that
        instruction when resumed instead of stopping there again."""
        p = self.k.procs.get(pid)
        eip = None if p is None or not p.alive else \
            self.read_register(pid, "eip")
        self.skip = (pid, eip) if eip in self.breakpoints else None

    def first_stop(self):
        """Before the first user instruction: stop pid 1 (or the first)."""
        pids = self.threads()
        if pids:
            self._serve(Stop(pids[0], SIGTRAP))

    def finished(self, status):
        """The run has ended; tell the client."""
        self.ended = True
        if self.client is not None:
            self.client.on_exit(status)

    def detach(self):
        """Forget every breakpoint, watchpoint and step; run freely."""
        for va in list(self.breakpoints):
            self.remove_breakpoint(va)
        for key in list(self.watches):
            self.remove_watchpoint(*key)
        self._clear_step()
        self.client = None
        self.interrupt_requested = False

    # -- single step -------------------------------------------------------
    def _start_step(self, pid):
        """Let pid run one instruction, then stop it; the others run on as
        they would (their slices are unchanged). No such process: run on."""
        p = self.k.procs.get(pid)
        if p is None or not p.alive:
            return
        self.step_pid, self.step_seen = pid, False
        self.step_hooks = [cpu.add_code_hook(
            lambda a, cpu=cpu: self._step_hook(cpu)) for cpu in self.k.hw.cpus]

    def _step_hook(self, cpu):
        p = self.k.current
        if p is None or p.pid != self.step_pid or self.pending is not None:
            return
        if not self.step_seen:
            self.step_seen = True
            return
        self._stop_now(cpu, Stop(p.pid, SIGTRAP))

    def _clear_step(self):
        for cpu, h in zip(self.k.hw.cpus, self.step_hooks):
            cpu.remove_hook(h)
        if self.step_hooks:
            self.k.hw.flush_code()   # drop the per-instruction hook calls
        self.step_hooks, self.step_pid = [], None

    # -- kernel events -----------------------------------------------------
    def on_fatal(self, p, fault):
        """trap.kill is about to end p for a CPU exception: stop it first
        (continuing lets it die as without a debugger)."""
        if self.client is None:
            return
        sig = FAULT_SIGNALS.get(fault["vector"], SIGSEGV)
        self.faults[p.pid] = fault
        try:
            self._serve(Stop(p.pid, sig))
        finally:
            self.faults.pop(p.pid, None)

    def on_exit(self, p):
        """A stepped process that ends (or dies at a fault it was stopped
        at) stops the machine as its slice ends, in a live process."""
        if p.pid == self.step_pid:
            self._clear_step()
            live = [q.pid for q in self.k.procs if q.alive and q is not p]
            if live and self.pending is None:
                self.pending = Stop(live[0], SIGTRAP)

    # -- monitor commands --------------------------------------------------
    def monitor(self, line):
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

    def ps_text(self):
        rows = [f"{'PID':>4} {'PPID':>4} {'UID':>4}  {'NAME':<16} STATE"]
        for pid in self.threads():
            p = self.k.procs.get(pid)
            rows.append(f"{p.pid:>4} {p.parent:>4} {p.uid:>4}  {p.name:<16} "
                        f"{self.state_text(pid)}")
        for pid, f in self.faults.items():
            cr2 = "" if f["cr2"] is None else f" cr2={f['cr2']:#010x}"
            rows.append(f"pid {pid} stopped at vector {f['vector']} eip "
                        f"{f['eip']:#010x} ({f['instruction']}){cr2}")
        return "\n".join(rows)

    def _aspace(self, pid):
        p = self._proc(pid)
        if p.aspace is None:
            raise DebugError(f"pid {pid} has exited: no address space")
        return p

    def maps_cmd(self, pid):
        return maps_text(self._aspace(pid))

    def walk_cmd(self, pid, va):
        p = self._aspace(pid)
        return f"pid {pid} va {va:#010x}: " + format_walk(p.aspace.walk(va))

    def pt_cmd(self, pid):
        return page_table_text(pid, self._aspace(pid).aspace, "now")

    def frames_cmd(self):
        return frame_map_text(list(self.k.procs), self.k.frames, "now")

    def ipcs_cmd(self):
        return ipcs_text(self.k.shm)


MONITOR = {
    "ps": (Debugger.ps_text, 0, "ps"),
    "maps": (Debugger.maps_cmd, 1, "maps PID"),
    "walk": (Debugger.walk_cmd, 2, "walk PID VA"),
    "pt": (Debugger.pt_cmd, 1, "pt PID"),
    "frames": (Debugger.frames_cmd, 0, "frames"),
    "ipcs": (Debugger.ipcs_cmd, 0, "ipcs"),
}
MONITOR_HELP = """monitor commands:
  ps            every process: pid, parent, uid, name, state
  maps PID      PID's memory map (regions and shared frames)
  walk PID VA   the page walk of VA through PID's tables (as in traces)
  pt PID        PID's page directory and tables, merged into ranges
  frames        every physical frame live page tables name, with owners
  ipcs          the shared memory segments
  help          this text
"""
