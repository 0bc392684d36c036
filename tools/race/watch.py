"""`--races`: the kernel side of the race detector. It watches the frames
of every attached shared memory segment, and the private writable frames
of every process that has created a thread (emu.memlog's C hook, on every CPU,
installed only while some frame is watched), feeds the accesses and the
kernel's happens-before events to tools.race.detector in the order they happened,
each access split at page boundaries into pieces in their own frames, and
reports each racing pair of instructions once: on stderr at the end of
the run, and as `races` in the --report JSON.

Interface (for `ia32k run --races` and the race finder):
    races = k.attach(RaceWatch(k))   # or tools.observe.boot's races=True
    k.boot(names); k.run()
    races.verdicts     # [tools.race.detector.Race], settled at the end of the run;
                       # race.key: ((program, eip), (program, eip)), sorted
    races.json()       # the report's `races` list (docs/abi.md)
    races.det.evicted  # frames whose shadow the memory budget dropped
                       # (`races_dropped_frames` in the report)
    races.text()       # the stderr blocks, one per pair
    build_report(k)["races"]                # the same list as json()

Accesses are drained from the CPU's log before every happens-before event,
at the end of every slice and whenever the log is full: the CPUs take
turns from one host thread, so that order is the order the accesses
happened in. Only guest instructions'
accesses are seen; the kernel's copy-in and copy-out (send, recv, a
status written by wait) are not recorded.
"""

from weakref import WeakKeyDictionary

from capstone import CS_ARCH_X86, CS_MODE_32, Cs

from emu.memlog import WRITE_BIT, MemLog, Watch
from emu.walk import FETCH
from emu.x86 import PAGE_SHIFT, PAGE_SIZE
from kernel.mm.access import look
from kernel.mm.vm import RegionKind
from kernel.proc.process import WaitKind
from tools.observe.debuginfo import line_table
from tools.observe.fmt import segment_name
from tools.race.detector import FRAME, Detector
from tools.race.segpages import SegmentPages

_disasm = Cs(CS_ARCH_X86, CS_MODE_32)
MAX_INSN = 15
OFFSET = PAGE_SIZE - 1


class RaceWatch:
    """The detector attached to one kernel (an observer of it)."""

    def __init__(self, k):
        self.k = k
        self.det = Detector(located=self.located)
        self.watch = Watch(k.hw.memory)
        self.logs = [MemLog(cpu, self.watch, self._full(cpu))
                     for cpu in k.hw.cpus]
        self.frames = SegmentPages(k.hw.memory)   # frame -> (segment, page)
        self.private = {}        # frame -> (pid, page va): private memory
        #                          of a process with several threads
        self.threaded = set()    # pids of processes that made a thread
        self.placed = {}         # (pid, segment id) -> attach address
        self.insns = {}          # program -> {eip: (atomic, text)}
        self.lines = {}          # program -> LineTable
        self.verdicts = None     # the races, once the run has ended
        self.replay = None       # race -> lines saying how to replay it
        self.clocks = WeakKeyDictionary()   # message -> sender's clock

    # -- accesses ----------------------------------------------------------
    def drain(self, cpu, t):
        """Feed cpu's logged accesses, all made by thread t, to the
        detector (whose actors are threads, by tid)."""
        recs = self.logs[cpu.index].drain()
        if recs is None or t is None:
            return
        p = t.proc
        insns = self.insns.setdefault(p.name, {})
        access, pid, idx, name = self.det.access, t.tid, cpu.index, p.name
        for i in range(0, len(recs), 3):
            eip, pa, sw = recs[i], recs[i + 1], recs[i + 2]
            insn = insns.get(eip)
            if insn is None:
                insn = insns[eip] = decode(p, eip)
            size, write = sw & 0xFF, sw & WRITE_BIT != 0
            if (pa & OFFSET) + size <= PAGE_SIZE:
                access(pid, pa, size, write, insn[0], eip, idx, name)
                continue
            for piece, n in self.pieces(p, pa, size):
                access(pid, piece, n, write, insn[0], eip, idx, name)

    def pieces(self, p, pa, size):
        """An access of size bytes from pa that runs into the next virtual
        page: [(pa, length)] of its parts in watched frames, each in its
        own frame (the second page's frame is found from p's page tables,
        which are the ones the access went through: the log calls for a
        drain right after such an access)."""
        head = PAGE_SIZE - (pa & OFFSET)
        out = [(pa, head)] if pa in self.watch else []
        nxt = self.next_frame(p, pa & FRAME)
        if nxt is not None and nxt in self.watch:
            out.append((nxt, size - head))
        return out

    def next_frame(self, p, frame):
        """The frame of the virtual page after the page of p's that maps
        frame, where one of the two is in a shared memory attachment of
        p's (the only pages whose frames are watched), or None."""
        seg_page = self.frames.get(frame)
        for r in p.aspace.regions if p.aspace else ():
            if r.kind is not RegionKind.SHM:
                continue
            first = [r.start - PAGE_SIZE] if r.start else []
            if seg_page is not None and seg_page[0] is r.obj:
                first.append(r.start + (seg_page[1] << PAGE_SHIFT))
            for va in first:
                w = look(p.aspace, va)
                if w.ok and w.pa & FRAME == frame:
                    w = look(p.aspace, va + PAGE_SIZE)
                    return w.pa & FRAME if w.ok else None
        return None

    def _full(self, cpu):
        """The callback of cpu's log when it fills up in mid-slice: the
        accesses so far go to the detector (so the log stays bounded)."""
        return lambda: self.drain(cpu, self.k.thread)

    def _drain_current(self):
        if self.k.cpu is not None:
            self.drain(self.k.cpu, self.k.thread)

    def on_slice_end(self, cpu, p, t):
        self.drain(cpu, t)

    def _caller(self):
        """The tid of the thread in the current system call."""
        return self.k.thread.tid

    # -- happens-before events -------------------------------------------
    def on_spawn(self, parent, child):
        self._drain_current()
        self.det.spawn(self._caller() if parent else None, child.pid)

    def on_thread_create(self, creator, t):
        self._drain_current()
        self.det.spawn(creator.tid, t.tid)
        p = t.proc
        if p.pid not in self.threaded:   # its threads share private memory
            self.threaded.add(p.pid)
            for r in p.aspace.regions:
                if not r.shared and r.writable:
                    self._watch_private(p, r.start, (r.end - r.start)
                                        // PAGE_SIZE)

    # -- private memory of a process with several threads ------------------
    def _owner(self, aspace):
        p = self.k.current
        return p if p is not None and p.aspace is aspace and \
            p.pid in self.threaded else None

    def _watch_private(self, p, va, npages):
        for page in range(va, va + npages * PAGE_SIZE, PAGE_SIZE):
            r = p.aspace.region_at(page)
            pa = p.aspace.frame_of(page)
            if pa is not None and r is not None and not r.shared:
                self.private[pa] = (p.pid, page)
                self.watch.set(pa)
        self._hooks()

    def on_pte_mapped(self, aspace, va, npages):
        p = self._owner(aspace)
        if p is not None:
            self._watch_private(p, va, npages)

    def on_cow_broken(self, aspace, page, old, new):
        p = self._owner(aspace)
        if p is not None:
            self._watch_private(p, page, 1)

    def on_pte_unmapping(self, aspace, va, entries):
        """Private frames of a threaded process going away: settle their
        races and stop watching them."""
        gone = {pa for pa, (pid, page) in self.private.items()
                if va <= page < va + len(entries) * PAGE_SIZE and
                self.k.procs.get(pid).aspace is aspace}
        if gone:
            self._drain_current()
            self.det.forget(gone)
            for pa in gone:
                del self.private[pa]
                self.watch.set(pa, False)
            self._hooks()

    def on_thread_exit(self, t):
        self._drain_current()
        self.det.exit(t.tid)

    def on_thread_join(self, joiner, t):
        self._drain_current()
        self.det.wait(joiner.tid, t.tid)

    def on_exit(self, p):
        """p's end (what a waiting parent acquires) follows everything
        each of its threads did."""
        self._drain_current()
        for t in p.threads.values():
            if t.tid != p.pid:
                self.det.acquire(p.pid, self.det.release(t.tid))
        self.det.exit(p.pid)

    def on_wait(self, parent, child):
        self._drain_current()
        self.det.wait(self._waiter(parent, child).tid, child.pid)

    def _waiter(self, parent, child):
        """parent's thread that reaps child: the caller of wait, or (when
        child's exit wakes it) the one the kernel wakes, its first thread
        waiting for child or for any child."""
        t = self.k.thread
        if t is not None and t.proc is parent:
            return t
        return next(w for w in parent.waiting(WaitKind.WAIT)
                    if w.wait_on.key in (-1, child.pid))

    def on_send(self, p, msg):
        self._drain_current()
        self.clocks[msg] = self.det.release(self._caller())

    def on_recv(self, p, msg, t):
        self._drain_current()
        self.det.acquire(t.tid, self.clocks.pop(msg, None))

    def on_futex_wake(self, waker, sleeper):
        self._drain_current()
        self.det.wake(waker.tid, sleeper.tid)

    # -- which frames are watched ----------------------------------------
    def on_shm_attach(self, p, seg, addr):
        self.placed[(p.pid, seg.id)] = addr
        for i, pa in enumerate(seg.frames):
            if pa:
                self.on_shm_frame(seg, i, pa)
        self._hooks()

    def on_shm_frame(self, seg, page, pa):
        self.frames.set(pa, seg, page)
        self.watch.set(pa)
        self._hooks()

    def on_shm_detach(self, seg):
        """The last attachment gone: its frames need no watching (their
        shadow stays: the segment may be attached again)."""
        if not seg.attachments:
            for pa in seg.frames:
                if pa:
                    self.watch.set(pa, False)
            self._hooks()

    def on_shm_free(self, seg):
        """The frames go back to the allocator: settle their races."""
        self._drain_current()
        gone = {pa for pa in seg.frames if pa}
        self.det.forget(gone)
        self.frames.free(seg)
        for pa in gone:
            self.watch.set(pa, False)
        self._hooks()

    def _hooks(self):
        """The memory hook is on exactly while some frame is watched."""
        for log in self.logs:
            if self.watch.count:
                log.enable()
            else:
                log.disable()

    def located(self, race):
        """A race was just found: note where each process saw the byte,
        while its attachments are still known."""
        race.va_a = self.locate(self.pid_of(race.a.pid), race.a.pa)
        race.va_b = self.locate(self.pid_of(race.b.pid), race.b.pa)
        race.where = self._segment_text(race.byte)

    def pid_of(self, tid):
        """The pid of the process thread tid belongs to."""
        t = self.k.procs.thread(tid)
        return t.proc.pid if t is not None else tid

    def locate(self, pid, pa):
        """The virtual address at which pid sees physical pa (through its
        first attachment of the segment, or where it had it), or None."""
        seg_page = self.frames.get(pa & FRAME)
        if seg_page is None:
            owner, va = self.private.get(pa & FRAME, (None, None))
            return va + (pa & OFFSET) if owner == pid else None
        seg, page = seg_page
        addr = next((a.addr for a in seg.attachments if a.pid == pid),
                    self.placed.get((pid, seg.id)))
        if addr is None:
            return None
        return addr + (page << PAGE_SHIFT) + (pa & (PAGE_SIZE - 1))

    # -- the verdicts ------------------------------------------------------
    def on_run_end(self):
        self.verdicts = self.det.verdicts()
        dropped = sum(log.dropped for log in self.logs)
        if dropped:
            self.k.console.message(f"races: {dropped} accesses lost (the "
                                   "log could not be drained)")
        if self.det.evicted:
            self.k.console.message(
                f"races: the shadow of {self.det.evicted} frames was dropped "
                f"to keep it within {self.det.budget >> 20} MiB (a race "
                "between accesses on either side of a drop may be missed)")
        for block in self.blocks():
            self.k.console.message(block)

    def report(self, report):
        report["races"] = self.json()
        report["races_dropped_frames"] = self.det.evicted

    def json(self):
        """The report's `races`: one entry per racing pair."""
        return [{"a": self._side(r.a, r.va_a), "b": self._side(r.b, r.va_b),
                 "pa": max(r.a.pa, r.b.pa)} for r in self.verdicts or ()]

    def _side(self, a, va):
        return {"pid": self.pid_of(a.pid), "tid": a.pid, "eip": a.eip,
                "access": a.kind, "va": va}

    def text(self):
        return "".join(f"ia32k: {b}\n" for b in self.blocks())

    def blocks(self):
        return [self.describe(r) for r in self.verdicts or ()]

    def describe(self, r):
        """One racing pair as text: where, who, which instructions."""
        head = (f"data race on physical {max(r.a.pa, r.b.pa):#010x}"
                f"{r.where}: no happens-before order "
                f"joins these two accesses")
        lines = [head] + [self._access_text(a, va) for a, va in
                          ((r.a, r.va_a), (r.b, r.va_b))]
        if r.count > 1:
            lines.append(f"  (seen {r.count} times)")
        if self.replay is not None:
            lines += [f"  {t}" for t in self.replay(r)]
        return "\n".join(lines)

    def _segment_text(self, pa):
        seg_page = self.frames.get(pa & FRAME)
        if seg_page is None:
            return ""
        seg, page = seg_page
        offset = (page << PAGE_SHIFT) | (pa & 0xFFF)
        return f" ({segment_name(seg)} + {offset:#x})"

    def _access_text(self, a, va):
        _, text = self.insns.get(a.program, {}).get(a.eip, (False, None))
        where = self.line(a.program, a.eip)
        return (f"  {a.kind:<5} {a.size} byte{'s' if a.size > 1 else ''} "
                f"by {self._who(a.pid)} ({a.program}) on cpu {a.cpu} at va "
                f"{_hex(va)}: eip {a.eip:#010x} {text or '<unreadable>'}"
                + (f"  [{where}]" if where else ""))

    def _who(self, tid):
        pid = self.pid_of(tid)
        return f"pid {pid}" if pid == tid else f"tid {tid} of pid {pid}"

    def line(self, program, eip):
        """file:line of eip in program (C built with -g), or None."""
        table = self.lines.get(program)
        if table is None:
            image = self.k.programs.get(program)
            table = self.lines[program] = line_table(
                getattr(image, "elf", b"") or b"")
        return table.line(eip)


def decode(p, eip):
    """(atomic, text) for the instruction at eip in p: atomic when it has
    a lock prefix or is an xchg with memory (always locked on x86)."""
    code = b""
    while len(code) < MAX_INSN:
        w = p.aspace.walk(eip + len(code), FETCH) if p.aspace else None
        if w is None or not w.ok:
            break
        n = min(MAX_INSN - len(code), PAGE_SIZE - (w.pa & (PAGE_SIZE - 1)))
        code += p.aspace.vm.hw.read(w.pa, n)
    for insn in _disasm.disasm(code, eip):
        text = f"{insn.mnemonic} {insn.op_str}".strip()
        atomic = insn.mnemonic.startswith("lock") or \
            (insn.mnemonic == "xchg" and "ptr" in insn.op_str)
        return atomic, text
    return False, None


def _hex(va):
    return "?" if va is None else f"{va:#010x}"
