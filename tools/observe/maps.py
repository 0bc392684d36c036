"""A process's memory map, like /proc/PID/maps: each region's range,
permissions, what backs it and the physical frame of every page as the
process's own page table names it, '(cow)' after frames still shared
copy-on-write."""

from emu.x86 import PAGE_SIZE, PTE_COW, PTE_P
from kernel.mm.frames import merge_runs
from tools.observe.fmt import frame_run, region_name
from kernel.mm.vm import RegionKind

MAX_RUNS = 8                     # frame runs shown per region


def maps_text(p):
    """The map of process p (which must still have its address space)."""
    lines = [f"maps of pid {p.pid} ({p.name}, uid {p.uid}):"]
    if len(p.threads) > 1:               # one page directory, many threads
        lines.append("  threads " + ", ".join(
            f"{t.tid}" + ("" if t.alive else f" (ended {t.status})")
            for t in p.threads.values()))
    nx = p.aspace.vm.mode.nx
    for r in p.aspace.regions:
        # 32-bit paging has no NX bit: whatever is readable executes.
        x = "x" if r.executable or not nx else "-"
        perms = "r" + ("w" if r.writable else "-") + x + \
            ("s" if r.kind is RegionKind.SHM else "p")
        line = f"  {r.start:08x}-{r.end:08x} {perms} {backing(r)}"
        lines.append(line + "  frames " + frame_runs(p.aspace, r))
    return "\n".join(lines) + "\n"


def backing(r):
    """'image NAME', 'stack', or 'shm N' (plus 'destroyed')."""
    text = region_name(r)
    return text + " destroyed" if r.kind is RegionKind.SHM and r.obj.destroyed \
        else text


def frame_runs(aspace, r):
    """The region's pages in order: a frame or run of consecutive frames
    (tools.observe.fmt.frame_run; '(cow)' after it when copy-on-write), or
    '-' ('-xN': N pages) not present here. Large-page leaves count too."""
    npages, mask = (r.end - r.start) // PAGE_SIZE, aspace.vm.mode.addr_mask
    ptes = aspace.ptes(r.start, npages) if r.page_size == PAGE_SIZE else None
    pages = []                   # (frame or None, 1, cow) for merge_runs
    for i in range(npages):
        if ptes is None:         # a large-page region: its PDE leaves
            pages.append((aspace.frame_of(r.start + i * PAGE_SIZE), 1, False))
        else:
            pte = ptes[i]
            pages.append((pte & mask if pte & PTE_P else None, 1,
                          bool(pte & PTE_COW)))
    runs = merge_runs(pages)
    shown = [run_text(pa, n) + ("(cow)" if cow else "")
             for pa, n, cow in runs[:MAX_RUNS]]
    if len(runs) > MAX_RUNS:
        shown.append(f"... {len(runs) - MAX_RUNS} more runs")
    return " ".join(shown)


def run_text(pa, n):
    if pa is None:
        return "-" if n == 1 else f"-x{n}"
    return frame_run(pa, n)


class MapsPrinter:
    """A kernel observer that prints each process's map as it exits,
    before its address space is destroyed, to the console's stderr."""

    def __init__(self, console):
        self.console = console

    def on_exit(self, p):
        if p.aspace is not None:
            self.console.out.flush()
            self.console.err.write(maps_text(p).encode())
            self.console.err.flush()
