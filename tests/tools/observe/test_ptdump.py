"""Page-table dumps and the frame map (tools/observe/ptdump.py) of live processes."""

import io

import pytest

from emu import x86
from tools.observe import ptdump
from kernel.kernel import Console, Kernel
from kernel.memlayout import GDT_PA, USTACK_TOP, kva
from tools.toolchain.programs import Programs

LOOP = "mov eax, SYS_YIELD\nint 0x80\nmov eax, SYS_EXIT\nxor ebx, ebx\nint 0x80\n"


@pytest.fixture
def booted(tmp_path):
    """A kernel with two processes created, not yet run; stack pages
    filled by hand the way demand paging fills them."""
    src = tmp_path / "y.s"
    src.write_text(LOOP)
    progs = Programs()
    progs.add(src)
    k = Kernel(progs, memory=32 << 20,
               console=Console(io.BytesIO(), io.BytesIO()))
    procs = k.boot(["y", "y"])
    for va in (USTACK_TOP - 0x1000, USTACK_TOP - 0x2000, USTACK_TOP - 0x4000):
        procs[0].aspace.fault_in(va, write=True)
    return k, procs


def test_ranges_merge_contiguous_pages_of_one_kind(booted):
    k, (p1, _) = booted
    rows = [(r.start, r.end, r.backing,
             x86.pte_flags_str(r.flags, pte=not r.large))
            for r in ptdump.page_table_ranges(p1.aspace)]
    assert rows == [
        (0x00400000, 0x00401000, "image y", "P U COW"),    # shared text
        (USTACK_TOP - 0x4000, USTACK_TOP - 0x3000, "stack", "P W U"),
        (USTACK_TOP - 0x2000, USTACK_TOP, "stack", "P W U"),
        (kva(GDT_PA), kva(GDT_PA) + 0x1000, "kernel", "P A")]
    kernel = ptdump.page_table_ranges(p1.aspace)[-1]     # the GDT page only
    assert not kernel.large and kernel.frames == [[GDT_PA, 1]]


def test_page_table_text(booted):
    _, (p1, _) = booted
    text = ptdump.page_table_text(1, p1.aspace, "now")
    cr3 = p1.aspace.pd
    assert text.splitlines()[0] == f"page table of pid 1 (CR3={cr3:#010x}) now:"
    assert "  0xc0001000-0xc0001fff      1  P A         kernel" in text
    assert "0xbfffe000-0xbfffffff      2  P W U       stack" in text


def test_frame_map_names_every_reference(booted):
    k, (p1, p2) = booted
    runs = ptdump.frame_runs([p1, p2], k.frames)
    owners = {}
    for r in runs:
        for i in range(r.n):
            owners[r.pa + i * 4096] = (r.refs, r.owners)
    text = set(k.text.texts[id(k.programs.get("y"))].frames.values())
    for pa, (refs, own) in owners.items():
        assert refs == k.frames.refcount(pa) == len(own) + (pa in text)
    assert len(owners[min(text)][1]) == 2      # both name the program text
    assert owners[p1.aspace.pd][1] == [(1, "page directory", None)]
    assert len(owners) == k.frames.total - k.frames.nfree


def test_frame_map_counts_references_the_tables_do_not_show(booted):
    k, (p1, p2) = booted
    pa = p2.aspace.walk(0x00400000).pa
    k.frames.incref(pa)                 # a kernel owner, as a segment is
    text = ptdump.frame_map_text([p1, p2], k.frames, "now")
    assert f"{pa:#010x}                 4  pid 1 image y @0x00400000; " \
        "pid 2 image y @0x00400000; +2 kernel" in text   # + program text
    k.frames.decref(pa)
