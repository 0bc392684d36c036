"""Page-table dumps: one process's page directory as a compact table, and
the machine's frame map (who references each physical frame).

Both read the tables exactly as the MMU would find them in RAM (the page
directory at CR3, then each present page table), not the kernel's own
bookkeeping, and merge contiguous runs so a 64 KiB stack or a 64 MiB
segment is one line.
"""

from array import array
from dataclasses import dataclass, field

from emu.x86 import PAGE_SIZE, PTE_COW, PTE_NX, PTE_P, PTE_PS, pte_flags_str
from kernel.memlayout import KERNBASE
from kernel.mm.vm import RegionKind

KERNEL_PDX = KERNBASE >> 22
_LEAF_BITS = 0x1FF | PTE_COW | PTE_NX   # every flag bit of a leaf entry,
#                                  ia32k's copy-on-write mark (bit 9, AVL)
#                                  and NX (bit 63, PAE)


@dataclass
class Range:
    """Contiguous virtual pages with the same flags and backing; frames is
    a list of [first frame, count] runs."""
    start: int
    end: int
    flags: int
    backing: str
    frames: list = field(default_factory=list)
    large: bool = False

    def add(self, pa, size):
        """Extend the range by a page of size bytes mapped to frame pa."""
        last = self.frames[-1] if self.frames else None
        if last and last[0] + last[1] * PAGE_SIZE == pa:
            last[1] += size // PAGE_SIZE
        else:
            self.frames.append([pa, size // PAGE_SIZE])
        self.end += size


def backing_of(aspace, va):
    """What backs user page va: 'image NAME', 'stack', 'shm ID', or '-'."""
    if va >= KERNBASE:
        return "kernel"
    r = aspace.region_at(va)
    if r is None:
        return "-"
    if r.kind is RegionKind.SHM:
        sid = getattr(r.obj, "id", None)
        return "shm" if sid is None else f"shm {sid}"
    return f"{r.kind.value} {r.tag}".strip()


def leaves(aspace):
    """(va, leaf entry, size) for every present page, lowest va first, read
    from the page directories and tables in RAM (every directory the PDPT
    names, under PAE)."""
    hw, mode = aspace.vm.hw, aspace.vm.mode
    pdes = array(mode.typecode, b"".join(hw.read(d, PAGE_SIZE)
                                         for d in aspace.dirs))
    for i, pde in enumerate(pdes):
        if not pde & PTE_P:
            continue
        if pde & PTE_PS:
            yield mode.page_va(i), pde, mode.large_size
            continue
        ptes = array(mode.typecode, hw.read(pde & mode.addr_mask, PAGE_SIZE))
        for j, pte in enumerate(ptes):
            if pte & PTE_P:
                yield mode.page_va(i, j), pte, PAGE_SIZE


def leaf_frame(aspace, leaf, size):
    """The first frame a leaf entry of size bytes names."""
    mode = aspace.vm.mode
    return mode.large_pa(leaf, 0) if size > PAGE_SIZE else \
        leaf & mode.addr_mask


def page_table_ranges(aspace):
    """The address space as a list of merged Ranges."""
    out = []
    for va, leaf, size in leaves(aspace):
        flags, backing = leaf & _LEAF_BITS, backing_of(aspace, va)
        pa = leaf_frame(aspace, leaf, size)
        cur = out[-1] if out else None
        if not (cur and cur.end == va and cur.flags == flags
                and cur.backing == backing):
            cur = Range(va, va, flags, backing, large=size > PAGE_SIZE)
            out.append(cur)
        cur.add(pa, size)
    return out


def frames_text(pa, n):
    """'0x00012000' for one frame, '0x00012000-0x00014fff' for n."""
    return f"{pa:#010x}" + (f"-{pa + n * PAGE_SIZE - 1:#010x}" if n > 1 else "")


def format_frames(runs, limit=4):
    """Frame runs as text, at most limit of them, then a count."""
    parts = [frames_text(pa, n) for pa, n in runs[:limit]]
    return ", ".join(parts) + (f", … ({len(runs)} runs)"
                               if len(runs) > limit else "")


def page_table_text(pid, aspace, when):
    """The page directory of pid as a text table."""
    mode = aspace.vm.mode
    dirs = "" if aspace.pd in aspace.dirs else \
        " = PDPT; directories " + ", ".join(f"{d:#x}" for d in aspace.dirs)
    rows = [f"page table of pid {pid} (CR3={aspace.pd:#010x}{dirs}) {when}:",
            f"  {'virtual range':<23} {'pages':>6}  {'flags':<11} "
            f"{'backing':<16} frames"]
    big = mode.large_size
    for r in page_table_ranges(aspace):
        n = (r.end - r.start) // (big if r.large else PAGE_SIZE)
        pages = f"{n}x{big >> 20}M" if r.large else str(n)
        flags = pte_flags_str(r.flags, pte=not r.large)
        rows.append(f"  {r.start:#010x}-{r.end - 1:#010x} {pages:>6}  "
                    f"{flags:<11} {r.backing:<16} {format_frames(r.frames)}")
    return "\n".join(rows)


def page_table_json(pid, aspace):
    """The page directory of pid as a JSON object."""
    return {"event": "pagetable", "pid": pid, "cr3": aspace.pd,
            "ranges": [{"start": r.start, "end": r.end, "flags": r.flags,
                        "flags_text": pte_flags_str(r.flags, pte=not r.large),
                        "large": r.large, "backing": r.backing,
                        "frames": r.frames}
                       for r in page_table_ranges(aspace)]}


@dataclass
class FrameRun:
    """Frames [pa, pa + n pages) with one refcount and the same owners, each
    owner's virtual address advancing with the frame."""
    pa: int
    n: int
    refs: int
    owners: list      # (pid, what, va or None)


def frame_owners(procs):
    """pa -> [(pid, what, va)] for every frame a live process's tables name,
    the page directory and page tables included (kernel half excluded)."""
    owners = {}
    for p in procs:
        a = p.aspace
        if a is None:
            continue
        mode = a.vm.mode
        if a.pd not in a.dirs:
            owners.setdefault(a.pd, []).append((p.pid, "PDPT", None))
        for d in a.dirs:
            owners.setdefault(d, []).append((p.pid, "page directory", None))
        for i, pt in sorted(a.tables.items()):
            owners.setdefault(pt, []).append(
                (p.pid, f"page table {mode.page_va(i):#010x}", None))
        for va, leaf, size in leaves(a):
            if va >= KERNBASE:
                continue
            first = leaf_frame(a, leaf, size)
            for k in range(0, size, PAGE_SIZE):     # each frame of a large
                owners.setdefault(first + k, []).append(   # page too
                    (p.pid, backing_of(a, va + k), va + k))
    return owners


def frame_runs(procs, frames):
    """The frame map: merged FrameRuns, lowest frame first."""
    runs = []
    for pa, own in sorted(frame_owners(procs).items()):
        refs = frames.refcount(pa)
        own = sorted(own, key=lambda o: (o[0], o[1], o[2] or 0))
        last = runs[-1] if runs else None
        if last and last.pa + last.n * PAGE_SIZE == pa and last.refs == refs \
                and _follows(last, own):
            last.n += 1
        else:
            runs.append(FrameRun(pa, 1, refs, own))
    return runs


def _follows(run, own):
    """True when own is run's owners shifted by run.n pages."""
    if len(own) != len(run.owners):
        return False
    step = run.n * PAGE_SIZE
    return all(a[:2] == b[:2] and a[2] is not None and b[2] == a[2] + step
               for a, b in zip(run.owners, own))


def _owner_text(run):
    parts = [f"pid {pid} {what}" + (f" @{va:#010x}" if va is not None else "")
             for pid, what, va in run.owners]
    extra = run.refs - len(run.owners)
    if extra:
        parts.append(f"+{extra} kernel")
    return "; ".join(parts)


def frame_map_text(procs, frames, when):
    """The frame map of procs as a text table."""
    runs = frame_runs(procs, frames)
    rows = [f"frame map {when}: {sum(r.n for r in runs)} frames named by "
            f"live page tables, {len(runs)} runs",
            f"  {'frames':<23} {'refs':>4}  referenced by"]
    for r in runs:
        rows.append(f"  {frames_text(r.pa, r.n):<23} {r.refs:>4}  "
                    f"{_owner_text(r)}")
    return "\n".join(rows)


def frame_map_json(procs, frames):
    """The frame map of procs as a JSON object."""
    return {"event": "frames",
            "runs": [{"pa": r.pa, "n": r.n, "refs": r.refs,
                      "owners": [{"pid": pid, "what": what, "va": va}
                                 for pid, what, va in r.owners]}
                     for r in frame_runs(procs, frames)]}
