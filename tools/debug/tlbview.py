"""`monitor tlb [CPU]`: what one CPU's TLB may hold. Unicorn does not
expose its TLB, so this names what the machine can tell: the process
whose context (CR3) the CPU holds, whether the kernel owes it a flush
(mappings changed since its last one), every page the loaded tables mark
accessed (A: the CPU set it when it loaded that translation; a flush
does not clear it, so this is what the TLB may hold, not what it holds),
and the pages the CPU holds translated code for (exact, per CPU)."""

from emu.x86 import PAGE_SIZE, PTE_A, pte_flags_str
from tools.observe.ptdump import format_frames, page_table_ranges


def tlb_text(k, index):
    """The text of `monitor tlb index` for kernel k."""
    pc = k.sched.percpu[index]
    t = pc.loaded
    p = t.proc if t is not None else None
    if p is None or p.aspace is None:
        return (f"cpu {index}: no process loaded; it holds no user "
                "translation the kernel could name")
    who = f"pid {p.pid}" + (f" tid {t.tid}" if t.tid != p.pid else "")
    head = [f"cpu {index}: {who} ({p.name}) loaded, CR3="
            f"{p.aspace.pd:#010x}; {_shootdown(k)}",
            "translations it may hold (pages marked accessed; Unicorn's "
            "TLB itself is not visible):",
            f"  {'virtual range':<23} {'pages':>6}  {'flags':<11} "
            f"{'backing':<16} {'code':>5}  frames"]
    rows = [_row(pc.cpu, r) for r in page_table_ranges(p.aspace)
            if r.flags & PTE_A]
    return "\n".join(head + rows)


def _shootdown(k):
    if k.sched.shootdown.enabled:
        return "shootdown on: no stale translation outlives a call"
    return ("shootdown off: it may hold translations the tables no longer "
            "grant")


def _row(cpu, r):
    """One range of accessed pages; code: how many of them the CPU holds
    translated code for."""
    n = (r.end - r.start) // PAGE_SIZE
    code = sum(1 for _ in cpu.code_pages.in_range(r.start, r.end))
    flags = pte_flags_str(r.flags, pte=not r.large)
    return (f"  {r.start:#010x}-{r.end - 1:#010x} {n:>6}  {flags:<11} "
            f"{r.backing:<16} {code:>5}  {format_frames(r.frames)}")
