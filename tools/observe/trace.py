"""Page-walk traces: every page walk the kernel observes, as readable text
or as JSON lines.

A Tracer attached to a kernel records
- fault: each page fault the CPU raises, with the walk of CR2 through the
  tables as the CPU found them, the CPU's error code, and how it ended:
  demand-zero for the stack or paged-in for other backing (with the walk
  through the PTE the kernel filled), or fatal;
- map / unmap: each PTE the kernel writes or clears. Every one goes through
  AddressSpace.map_pages/unmap_pages (image load, demand-zero fills, shared
  memory attach and detach, exit), which emit pte_mapped/pte_unmapping;
- fork: each PTE a fork copied into the child (AddressSpace.fork);
- cow: a copy-on-write break the kernel made for a system call's copy-out
  (a break by a CPU write fault is that fault's outcome: cow-copy with the
  old and new frame, or cow-reuse);
- walk: on request, the walk of PID:VA when that process exits;
- pagetable / frames: with dump_pt, each process's page table and the
  frame map at its exit (tools.observe.ptdump).
Every walk is emu.walk's, through AddressSpace.walk. Tracing off costs one
attribute test per map/unmap call and per page fault (kernel.events): no
hook runs per instruction or per memory access.
"""

import json
from collections import Counter
from dataclasses import dataclass
from typing import Optional
from weakref import WeakKeyDictionary

from emu.walk import ACCESSES, FETCH, READ, WRITE, Walk, format_walk
from emu.x86 import PAGE_SIZE, PF_U, PF_W, PTE_P
from kernel.mm.access import Intent, look
from tools.observe import ptdump

MAX_INSN = 15


def walk_json(w):
    """A walk as JSON fields; addresses and entries are integers."""
    return {"cr3": w.cr3, "va": w.va, "access": w.access, "user": w.user,
            "levels": [{"level": lv.name, "index": lv.index,
                        "addr": lv.addr, "value": lv.value,
                        "flags": lv.flags} for lv in w.levels],
            "pa": w.pa,
            "fault": None if w.ok else {"error_code": w.error_code,
                                        "reason": w.reason}}


@dataclass
class Record:
    """One traced walk: event is fault, map, unmap, fork, cow or walk."""
    event: str
    pid: int
    walk: Walk
    backing: str = "-"
    eip: Optional[int] = None
    error_code: Optional[int] = None     # fault: the CPU's error code
    outcome: str = ""                    # fault, cow: demand-zero, paged-in,
    #                                      cow-copy, cow-reuse, fatal
    resolved: Optional[Walk] = None      # fault: the walk after the fill
    refs: Optional[int] = None           # unmap: the frame's count after

    def json(self):
        """The record as one JSON object (addresses as integers)."""
        out = {"event": self.event, "pid": self.pid, **walk_json(self.walk),
               "backing": self.backing}
        if self.event == "fault":
            out["fault"] = {"error_code": self.error_code,
                            "reason": self.walk.reason,
                            "walker_error_code": self.walk.error_code}
            out.update(eip=self.eip, outcome=self.outcome, resolved=None
                       if self.resolved is None else walk_json(self.resolved))
            if self.resolved is not None:
                out["pa"] = self.resolved.pa
        if self.event == "cow":
            out["outcome"] = self.outcome
        if self.refs is not None:
            out["refs"] = self.refs
        return out

    def text(self):
        """The record as a readable block: one line, two for a fault."""
        w = self.walk
        kind = "" if self.event in ("map", "unmap", "fork") \
            else f" {w.access}"
        head = f"{self.event:<6} pid {self.pid}{kind} {w.va:#010x}"
        if self.eip is not None:
            head += f" at eip {self.eip:#010x}"
        line = f"{head} ({self.backing}): {format_walk(w)}"
        if self.event == "fault":
            if self.error_code != w.error_code:
                line += f" [CPU error code {self.error_code:#x} differs]"
            line += f"\n       {self.outcome}"
            if self.resolved is not None:
                line += f": {format_walk(self.resolved)}"
        elif self.event == "cow":
            line += f"\n       {self.outcome}"
        if self.refs is not None:
            line += f"; frame refs now {self.refs}" + \
                (" (freed)" if self.refs == 0 else "")
        return line


@dataclass
class WalkRequest:
    """--walk PID:VA[:ACCESS]: walk va in pid's tables when pid exits."""
    pid: int
    va: int
    access: str = READ
    done: bool = False


def parse_walk_request(text):
    """'2:0x60001004' or '2:0x60001004:write' -> WalkRequest."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and
                                    parts[2] not in ACCESSES):
        raise ValueError(f"--walk {text}: expected PID:VA[:read|write|fetch]")
    try:
        pid, va = int(parts[0], 0), int(parts[1], 0)
    except ValueError:
        raise ValueError(f"--walk {text}: PID and VA must be numbers") \
            from None
    if not 0 <= va < 1 << 32:
        raise ValueError(f"--walk {text}: VA must be a 32-bit address")
    return WalkRequest(pid, va, parts[2] if len(parts) == 3 else READ)


def fault_access(err, cr2, eip):
    """The access a #PF was for: W in the error code is a write; an address
    inside the faulting instruction's own bytes is its fetch (32-bit paging
    reports no I/D bit); anything else a read."""
    if err & PF_W:
        return WRITE
    if cr2 == eip or (cr2 % PAGE_SIZE == 0 and eip < cr2 < eip + MAX_INSN):
        return FETCH
    return READ


class Tracer:
    """Records the page walks of one kernel to out, a binary stream, in
    fmt 'text' or 'jsonl'. trace=False writes only --walk and dumps; each
    of sinks (callables) still receives every Record (tools.explorer.page)."""

    def __init__(self, out, fmt="text", walks=(), dump_pt=False,
                 trace=True, sinks=()):
        self.out, self.fmt = out, fmt
        self.walks, self.dump_pt, self.trace = list(walks), dump_pt, trace
        self.sinks = list(sinks)
        self.k = None
        self.pending = None          # the fault between begin and end
        self.records = 0
        self._pids = WeakKeyDictionary()    # AddressSpace -> pid

    def attach(self, k):
        """Start observing kernel k (before it boots its processes): its
        faults and PTE changes only when they go somewhere."""
        self.k = k
        k.attach(self if self.trace or self.sinks else _AtExit(self))
        return self

    def emit(self, rec):
        """Hand one Record to the sinks; write it in the chosen format."""
        for sink in self.sinks:
            sink(rec)
        if self.trace or rec.event == "walk":
            self._write(rec.json() if self.fmt == "jsonl" else rec.text())

    def _write(self, item):
        line = item if isinstance(item, str) else json.dumps(item)
        self.out.write(line.encode() + b"\n")
        self.records += 1

    def pid_of(self, aspace):
        """The pid owning aspace; while create_process is still building
        it, no process has it yet and it will get the next pid."""
        pid = self._pids.get(aspace)
        if pid is None:
            pid = next((p.pid for p in self.k.procs if p.aspace is aspace),
                       self.k.procs.next_pid)
            self._pids[aspace] = pid
        return pid

    # -- events from kernel.mm.vm -------------------------------------------
    def on_pte_mapped(self, aspace, va, npages):
        """npages PTEs at va were just written."""
        pid = self.pid_of(aspace)
        for page in range(va, va + npages * PAGE_SIZE, PAGE_SIZE):
            if self._fold(aspace, page):
                continue
            self.emit(Record("map", pid, aspace.walk(page),
                             ptdump.backing_of(aspace, page)))

    def on_pte_forked(self, child, vas):
        """fork wrote the child PTEs for the pages vas (copy-on-write where
        the page is writable)."""
        pid = self.pid_of(child)
        for va in vas:
            self.emit(Record("fork", pid, child.walk(va),
                             ptdump.backing_of(child, va)))

    def on_cow_broken(self, aspace, page, old, new):
        """A copy-on-write page was made writable: frame old copied to new,
        or (old == new) reused. The pending fault's outcome if it is that
        page's, else a cow record (a copy-out by the kernel)."""
        outcome = f"cow-copy {old:#x} -> {new:#x}" if old != new else \
            f"cow-reuse {old:#x}"
        rec = self.pending
        if rec is not None and self._pending_aspace is aspace and \
                rec.walk.va - rec.walk.va % PAGE_SIZE == page:
            rec.outcome = outcome
            return
        self.emit(Record("cow", self.pid_of(aspace), aspace.walk(page, WRITE),
                         ptdump.backing_of(aspace, page), outcome=outcome))

    def on_pte_unmapping(self, aspace, va, ents):
        """The PTEs ents (raw values) at va are about to be cleared; each
        present one drops a reference to its frame."""
        pid, frames, seen = self.pid_of(aspace), aspace.vm.frames, Counter()
        for i, e in enumerate(ents):
            if not e & PTE_P:
                continue
            page, pa = va + i * PAGE_SIZE, e & aspace.vm.mode.addr_mask
            seen[pa] += 1
            self.emit(Record("unmap", pid, aspace.walk(page),
                             ptdump.backing_of(aspace, page),
                             refs=frames.refcount(pa) - seen[pa]))

    def _fold(self, aspace, page):
        """A PTE filled for the pending fault becomes part of its record."""
        rec = self.pending
        if rec is None or self._pending_aspace is not aspace or \
                rec.walk.va - rec.walk.va % PAGE_SIZE != page:
            return False
        w = rec.walk
        rec.resolved = aspace.walk(w.va, w.access, w.user)
        return True

    # -- events from kernel.trap -----------------------------------------
    def on_fault_begin(self, p, cr2, err, eip):
        """The CPU raised #PF: walk CR2 before the kernel changes anything."""
        w = p.aspace.walk(cr2, fault_access(err, cr2, eip), bool(err & PF_U))
        self.pending = Record("fault", p.pid, w,
                              ptdump.backing_of(p.aspace, cr2), eip=eip,
                              error_code=err)
        self._pending_aspace = p.aspace
        p.aspace.vm.zeroed = []

    def on_fault_end(self, filled):
        """The fault was filled with a freshly zeroed frame (demand-zero),
        or with one its region's backing already had (paged-in: a shared
        segment's page another process touched first), or was a
        copy-on-write break (outcome set by on_cow_broken), or it will kill
        the process (fatal)."""
        rec, self.pending = self.pending, None
        vm, zeroed = self._pending_aspace.vm, self._pending_aspace.vm.zeroed
        vm.zeroed = None
        pa = rec.resolved.pa if filled and rec.resolved else None
        fresh = pa is not None and (pa & ~(PAGE_SIZE - 1)) in zeroed
        if not (filled and rec.outcome):       # cow_broken set it
            rec.outcome = ("fatal" if not filled else "demand-zero" if fresh
                           else "paged-in")
        self.emit(rec)

    # -- TLB shootdowns (kernel.mm.shootdown) ---------------------------
    def on_shootdown(self, cpu, targets, pid, why):
        """One line (or JSON object) per shootdown round: the initiating
        CPU ("-" outside a hook), the CPUs flushed, the address space's
        pid, what changed."""
        if not self.trace:
            return
        origin = "-" if cpu is None else cpu.index
        if self.fmt == "jsonl":
            self._write({"event": "shootdown", "cpu": origin,
                         "targets": list(targets), "pid": pid, "why": why})
        else:
            cpus = ", ".join(str(t) for t in targets)
            self._write(f"shootdown pid {pid}: cpu {origin} flushed the "
                        f"TLB of cpu {cpus} ({why})")

    # -- the exit event -----------------------------------------------
    def on_exit(self, p):
        """At p's exit, before its memory goes: requested walks, dumps."""
        if p.aspace is None:
            return
        for req in self.walks:
            if req.pid == p.pid and not req.done:
                req.done = True
                self.emit(Record("walk", p.pid,
                                 look(p.aspace, req.va, Intent.of(req.access)),
                                 ptdump.backing_of(p.aspace, req.va)))
        if self.dump_pt:
            self.dump(p, f"at exit of pid {p.pid}")

    def dump(self, p, when):
        """p's page table, then the frame map of every live process."""
        live = [q for q in self.k.procs if q.aspace is not None]
        if self.fmt == "jsonl":
            self._write(dict(ptdump.page_table_json(p.pid, p.aspace),
                             when=when))
            self._write(dict(ptdump.frame_map_json(live, self.k.frames),
                             when=when))
        else:
            self._write(ptdump.page_table_text(p.pid, p.aspace, when))
            self._write(ptdump.frame_map_text(live, self.k.frames, when))

    def unmatched(self):
        """The --walk requests whose process never exited."""
        return [r for r in self.walks if not r.done]


class _AtExit:
    """A Tracer's exit event alone: --walk and --dump-pt without a trace."""

    def __init__(self, tracer):
        self.tracer = tracer

    def on_exit(self, p):
        self.tracer.on_exit(p)
