"""The page-table explorer: one self-contained HTML page written from a run.

An Explorer is a kernel observer and a trace sink. It collects what the
kernel already computes and embeds it as JSON in tools/explorer/explorer.html:
- every trace Record (tools.observe.trace: map, unmap, fault with its outcome,
  walk, fork), each with the walk emu.walk made, as a compact array; a
  fork record (the child's entry) is followed by the parent's entry for
  the same page as fork left it (marked copy-on-write where writable);
- spawn (or fork) and exit events, and at each exit the process's page
  directory and page tables exactly as they stood in RAM (present entries
  only, contiguous runs merged), with its merged ranges
  (tools.observe.ptdump);
- what each process wrote, each piece with the event it followed;
- the shared memory table (tools.observe.ipcs.describe) whenever it changed;
- the paging mode (levels, bits per level), flag and error-code texts.
The page replays recorded entry values; it decodes nothing itself.
"""

import html
import json
import re
from array import array
from pathlib import Path

from emu.walk import error_text
from emu.x86 import (PAE_ADDR, PAGE_SIZE, PDE_LARGE_ADDR,
                     PDE_LARGE_HIGH, PF_I, PF_P, PF_RSVD, PF_U, PF_W, PTE_COW,
                     PTE_NX, PTE_P, PTE_PS, PTE_U, PTE_W, pte_flags_str)
from tools.observe import ptdump
from tools.observe.ipcs import describe
from kernel.memlayout import KERNBASE
from kernel.mm.frames import merge_runs

TEMPLATE = Path(__file__).with_name("explorer.html")
PLACEHOLDER = re.compile("__TITLE__|__DATA__")
EVENT_FIELDS = ("kind", "pid", "va", "access", "levels", "pa", "error_code",
                "outcome", "backing", "eip", "resolved", "cr3", "refs")
OUTPUT_LIMIT = 8192              # bytes of console output kept per process
KERNEL_PDX = ptdump.KERNEL_PDX
FLAG_BITS = 0x1FF | PTE_COW | PTE_NX   # the bits pte_flags_str decodes


def paging_mode(pm):
    """The paging mode pm (emu.x86.PagingMode) as the page reads it.
    levels: from the top, each with its entries' name, index bits, whether
    such an entry may map a large page, the name of a table of them, and
    rights: False for a level without U/W (PAE's PDPTE). bits and pf name
    the entry and #PF error-code bits the walk replay tests (NX and I only
    where the mode has them); large: how a large page's frame is found."""
    tables = {"PDPTE": "page-directory-pointer table",
              "PDE": "page directory", "PTE": "page table"}
    levels = [{"name": name, "bits": pm.bits[i],
               "large": i == pm.pde_level and i < len(pm.levels) - 1,
               "table": tables[name], "rights": pm.rights(i)}
              for i, name in enumerate(pm.levels)]
    wide = pm.entry_size == 8
    large = ({"offset_bits": pm.large_shift, "addr_mask": js_value(
        PAE_ADDR & ~(pm.large_size - 1)), "high_mask": 0, "high_shift": 0}
        if wide else {"offset_bits": 22, "addr_mask": PDE_LARGE_ADDR,
                      "high_mask": PDE_LARGE_HIGH, "high_shift": 19})
    large["rsvd_mask"] = js_value(pm.rsvd(pm.pde_level, True))
    bits = {"P": PTE_P, "W": PTE_W, "U": PTE_U, "PS": PTE_PS}
    pf = {"P": PF_P, "W": PF_W, "U": PF_U, "RSVD": PF_RSVD}
    if pm.nx:
        bits["NX"], pf["I"] = js_value(pm.nx), PF_I
    return {"name": "32-bit" if not wide else "PAE", "entry_bytes":
            pm.entry_size, "offset_bits": 12, "levels": levels,
            "addr_mask": js_value(pm.addr_mask),
            "flag_mask": js_value(FLAG_BITS & ~PTE_NX | pm.nx),
            "kernel_index": pm.index(0, KERNBASE),
            "bits": bits, "pf": pf, "large": large}


def js_value(v):
    """An integer as JSON the page reads exactly: a number when a double
    holds it, else a hex string (64-bit entries)."""
    return v if v is None or v < 1 << 53 else hex(v)


def embed_json(data):
    """data as JSON safe inside a <script> element: no '<', '>' or '&'
    survives, so no '</script>' or '<!--' can end or confuse it."""
    text = json.dumps(data, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


class Tee:
    """What the console showed: what each process wrote, and the kernel's
    messages (an observer of the output and message events)."""

    def __init__(self, events=()):
        self.output = {}             # pid -> bytearray (bounded)
        self.pieces = {}             # pid -> [[event index, bytes]...]
        self.events = events         # the timeline the pieces follow
        self.messages = []

    def on_output(self, p, fd, data):
        if p is not None:
            buf = self.output.setdefault(p.pid, bytearray())
            kept = data[:max(0, OUTPUT_LIMIT - len(buf))]
            buf += kept
            pieces = self.pieces.setdefault(p.pid, [])
            at = len(self.events) - 1
            if pieces and pieces[-1][0] == at:
                pieces[-1][1] += kept
            elif kept:
                pieces.append([at, bytearray(kept)])

    def on_message(self, text):
        self.messages.append(text)


class Explorer:
    """Collects one run for the page; attach() before boot, html() after."""

    def __init__(self, title="", mode=None):
        self.title = title
        self.mode = mode                 # set from the kernel by attach()
        self.k = None
        self.events, self.walks, self.procs = [], [], {}
        self.backings, self._bid = [], {}
        self.flags = {}              # "PDE"/"PTE" -> {flag bits: text}
        self.segments, self._last_shm, self._last_key = [], None, []
        self.kernel = None           # the kernel half, from the first exit
        self.forked = set()          # pids whose entries fork wrote

    def attach(self, k):
        """Observe kernel k: its events and console. Pass record() as a
        Tracer sink (tools.observe.trace) for the walk events."""
        self.k = k
        if self.mode is None:
            self.mode = paging_mode(k.vm.mode)
        k.attach(self)
        self.console = k.attach(Tee(self.events))
        return self

    # -- interning -----------------------------------------------------
    def backing(self, text):
        """The index of a backing text ('stack', 'shm 1', ...)."""
        i = self._bid.get(text)
        if i is None:
            i = self._bid[text] = len(self.backings)
            self.backings.append(text)
        return i

    def entry(self, level, value):
        """Note the flag text of an entry the page will show; return the
        value as embedded."""
        key = value & FLAG_BITS
        table = self.flags.setdefault(level, {})
        if key not in table:
            table[key] = pte_flags_str(value, pte=level == "PTE")
        return js_value(value)

    def levels(self, w):
        """A walk's levels as [index, entry address, value] triples."""
        return [[lv.index, lv.addr, self.entry(lv.name, lv.value)]
                for lv in w.levels]

    # -- the trace sink --------------------------------------------------
    def record(self, rec):
        """One tools.observe.trace Record: a timeline event (or a --walk)."""
        w = rec.walk
        if rec.event == "walk":
            self.walks.append({"pid": rec.pid, "va": w.va,
                               "access": w.access,
                               "levels": self.levels(w), "pa": w.pa,
                               "error_code": w.error_code})
            return
        res = rec.resolved
        self.events.append([
            rec.event, rec.pid, w.va, w.access, self.levels(w),
            res.pa if res is not None else w.pa,
            rec.error_code if rec.event == "fault" else w.error_code,
            rec.outcome or None, self.backing(rec.backing), rec.eip,
            self.levels(res) if res is not None else None, w.cr3, rec.refs])
        if rec.event == "fork":
            self.fork_parent(rec)
        if self._shm_key() != self._last_key:
            self.note_segments()

    def fork_parent(self, rec):
        """After fork's record of the child's entry for a page: the parent's
        entry for it (the process in the fork call), as fork left it."""
        self.forked.add(rec.pid)
        parent = self.k.current
        if parent is None or parent.aspace is None or parent.pid == rec.pid:
            return
        w = parent.aspace.walk(rec.walk.va)
        self.events.append([
            "fork", parent.pid, w.va, w.access, self.levels(w), w.pa,
            w.error_code, "parent", self.backing(rec.backing), None, None,
            w.cr3, None])

    # -- kernel events ------------------------------------------------
    def on_spawn(self, parent, child):
        """A process entered the table: a timeline event, and its entry."""
        self.procs[child.pid] = {
            "pid": child.pid, "name": child.name, "uid": child.uid,
            "parent": child.parent, "cr3": child.aspace.pd,
            "spawn_event": len(self.events), "exit_event": None,
            "status": None, "fault": None, "tables": None, "ranges": [],
            "threads": [child.pid]}
        self._event("fork" if child.pid in self.forked else "spawn",
                    child.pid)

    def on_exit(self, p):
        """p is exiting, its memory still mapped: its tables as they are."""
        info = self.procs.get(p.pid)
        if info is None or p.aspace is None:
            return
        info.update(status=p.status, fault=p.fault,
                    threads=list(p.threads),
                    exit_event=len(self.events),
                    tables=self.tables(p.aspace),
                    ranges=ptdump.page_table_json(p.pid, p.aspace)["ranges"])
        self._event("exit", p.pid)
        self.note_segments()

    def _event(self, kind, pid):
        self.events.append([kind, pid] + [None] * (len(EVENT_FIELDS) - 2))

    def _shm_key(self):
        """What changes when a segment comes, goes, attaches or detaches."""
        return [(s.id, len(s.attachments), s.destroyed)
                for s in self.k.shm.segments.values()]

    def note_segments(self):
        """The shm table as tools.observe.ipcs describes it, when it
        changed: at each exit, and at the first event after a segment came
        or went, or attached or detached (the frame counts are as of that
        moment)."""
        self._last_key = self._shm_key()
        segs = []
        for s in self.k.shm.in_order():
            d = describe(s)
            d["frame_runs"] = runs_of(s.touched_runs())
            segs.append(d)
        if segs != self._last_shm:
            self._last_shm = segs
            self.segments.append({"at": len(self.events) - 1,
                                  "segments": segs})

    # -- snapshots ---------------------------------------------------------
    def tables(self, aspace):
        """Every table the walk can reach from CR3, as it is in RAM: the
        top one first, each as [base, [[index, value, count, backing]...]]
        with present entries only and runs of leaves whose frames follow
        each other merged. Levels and sizes come from paging_mode(). The
        first call also keeps the kernel half (the same in every process)
        for the page's replay of processes still running."""
        out, kernel = [], set()
        self._table(aspace, aspace.pd, 0, 0, out, kernel)
        if self.kernel is None:
            self.kernel = {"top": [r for r in out[0][1]
                                   if r[0] >= self.mode["kernel_index"]],
                           "tables": [t for t in out if t[0] in kernel]}
        return out

    def _table(self, aspace, base, depth, va_high, out, kernel,
               in_kernel=False):
        """Add the table at base (walk level depth) and those below it to
        out (and to the set kernel the bases of kernel-half tables); return
        the set of backings of the pages it maps."""
        mode = self.mode
        level = mode["levels"][depth]
        eb, last = mode["entry_bytes"], depth == len(mode["levels"]) - 1
        shift = mode["offset_bits"] + sum(
            lv["bits"] for lv in mode["levels"][depth + 1:])
        ents = array("I" if eb == 4 else "Q",
                     aspace.vm.hw.read(base, eb << level["bits"]))
        runs, kinds = [], set()
        out.append([base, runs])
        if in_kernel:
            kernel.add(base)
        for i, e in enumerate(ents):
            if not e & PTE_P:
                continue
            va = va_high | i << shift
            k = in_kernel or (depth == 0 and i >= mode["kernel_index"])
            if last:
                what = {"kernel" if k else ptdump.backing_of(aspace, va)}
                if self._extend(runs, i, e, what):
                    kinds |= what
                    continue
            elif level["large"] and e & PTE_PS:
                what = {"kernel" if k else "large page"}
            else:
                what = self._table(aspace, e & mode["addr_mask"], depth + 1,
                                   va, out, kernel, k)
            kinds |= what
            runs.append([i, self.entry(level["name"], e), 1, self.backing(
                what.pop() if len(what) == 1 else "mixed"), e])
        for r in runs:
            del r[4:]
        return kinds or ({"kernel"} if in_kernel else set())

    def _extend(self, runs, i, e, what):
        """Grow the last run by leaf e at index i when it follows it (same
        backing, next frame); True when it did."""
        prev = runs[-1] if runs else None
        if prev and prev[0] + prev[2] == i and \
                self.backings[prev[3]] in what and \
                prev[4] + prev[2] * (1 << self.mode["offset_bits"]) == e:
            prev[2] += 1
            return True
        return False

    # -- the page -----------------------------------------------------------
    def data(self):
        """Everything the page shows, as one JSON-ready dict."""
        self.note_segments()         # the table as the run left it
        out = getattr(self, "console", None)
        for pid, info in self.procs.items():
            raw = out.output.get(pid, b"") if out else b""
            info["output"] = bytes(raw).decode("utf-8", "replace")
            info["output_at"] = [[at, bytes(b).decode("utf-8", "replace")]
                                 for at, b in (out.pieces.get(pid, [])
                                               if out else [])]
        self.entry("PDE", 0)
        self.entry("PTE", 0)
        return {"title": self.title, "mode": self.mode,
                "frames": [self.k.frames.first * PAGE_SIZE,
                           self.k.frames.end * PAGE_SIZE],
                "event_fields": EVENT_FIELDS, "events": self.events,
                "processes": [self.procs[p] for p in sorted(self.procs)],
                "backings": self.backings, "walks": self.walks,
                "kernel": self.kernel or {"top": [], "tables": []},
                "flags": self.flags, "segments": self.segments,
                "fault_text": {c: error_text(c) for c in range(32)},
                "messages": out.messages if out else []}

    def html(self):
        """The page of this run."""
        return page_html(self.data())


def page_html(data):
    """The template with data's title and data itself filled in, in one
    pass over the template: what is filled in is never read again."""
    fill = {"__TITLE__": html.escape(data["title"]),
            "__DATA__": embed_json(data)}
    return PLACEHOLDER.sub(lambda m: fill[m.group(0)], TEMPLATE.read_text())


def runs_of(touched):
    """kernel.ipc.shm touched runs (first page, [frames]) split where frames
    stop following each other: [first page, first frame, count] each."""
    out = []
    for first, pas in touched:
        for pa, n, _ in merge_runs((pa, 1, None) for pa in pas):
            out.append([first, pa, n])
            first += n
    return out
