"""The debugger on a large-page (SHM_HUGETLB) attachment, in both paging
modes and on 1 and 2 CPUs: a large page nobody has touched reads as zeros
(never its reserved frames' stale bytes) and takes nothing; a write and a
watchpoint land at their offset inside the large page, the guest sees the
write, no frame leaks and the invariant checker stays quiet."""

import io

import pytest

from emu import x86
from kernel.kernel import Console
from kernel.mm.hugetlb import SHM_HUGETLB
from tools.debug.stops import Reason, Resume, WatchKind
from tools.debug.target import Debugger
from tools.observe.boot import new_kernel
from tools.observe.check import Checker
from tools.toolchain.programs import Programs

MB = 1 << 20
MODES = {"32": x86.PAGING_32, "pae": x86.PAGING_PAE}
VA = 0x60000000
PEEK = 0x1230                    # read untouched: zeros
POKE = 0x101010                  # the debugger writes here (not page 0)
WATCH = 0x102020                 # the guest writes here: a watchpoint

GUEST = r"""
#include "ia32k.h"
/* pid 1 finds the large-page segment attached at 0x60000000 by the test:
 * the debugger's write is there, the rest is zero; then it writes. */
int main(int arg)
{
    volatile u32 *p = (u32 *)0x60000000;
    CHECK_EQ(p[0x1230 / 4], 0);
    CHECK_EQ(p[0x101010 / 4], 0x11223344);
    CHECK_EQ(p[0x101014 / 4], 0);
    p[0x102020 / 4] = 5;
    return 0;
}
"""


class Script:
    def __init__(self):
        self.stops = []

    def on_stop(self, stop):
        self.stops.append((stop.pid, stop.reason, stop.address))
        return Resume()

    def on_exit(self, status):
        pass


@pytest.fixture(params=[(m, c) for m in MODES for c in (1, 2)],
                ids=lambda mc: f"{mc[0]}-{mc[1]}cpu")
def setup(request, tmp_path):
    paging, cpus = request.param
    (tmp_path / "hugedbg.c").write_text(GUEST)
    progs = Programs()
    progs.add(tmp_path / "hugedbg.c")
    k = new_kernel(progs, memory=32 * MB, check=True, paging=paging, cpus=cpus,
                   console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["hugedbg"])
    p = k.procs.get(1)
    sid = k.shm.create(p, 0, 1, 0o600 | SHM_HUGETLB)
    seg = k.shm.segments[sid]
    for pa in (seg.frames[0], seg.frames[-1]):    # a former owner's bytes
        k.hw.write(pa, b"\xAA" * x86.PAGE_SIZE)
    k.hw.write(seg.frames[POKE >> 12], b"\xAA" * x86.PAGE_SIZE)
    assert k.shm.attach(p, sid, VA, 0) == VA
    k.shm.destroy(p, sid)                         # freed at p's exit
    dbg = Debugger(k)
    dbg.client = Script()
    return k, dbg, seg


def test_untouched_large_page_reads_zeros_and_takes_nothing(setup):
    k, dbg, seg = setup
    free, count = k.frames.nfree, k.frames.refcount(seg.frames[0])
    assert dbg.read_memory(1, VA + PEEK, 16) == bytes(16)
    assert dbg.read_memory(1, VA + POKE - 8, 16) == bytes(16)
    assert k.frames.nfree == free
    assert k.frames.refcount(seg.frames[0]) == count == 1
    assert not seg.zeroed[0]


def test_write_and_watch_land_at_their_offset_without_leaks(setup):
    k, dbg, seg = setup
    free = k.frames.nfree
    dbg.add_watchpoint(1, VA + WATCH, 4, WatchKind.WRITE)
    w, = dbg.watchpoints.watches.values()
    assert w.pa == seg.frames[0] + WATCH
    dbg.write_memory(1, VA + POKE, b"\x44\x33\x22\x11")
    assert k.hw.read(seg.frames[0] + POKE, 8) == b"\x44\x33\x22\x11" + bytes(4)
    assert dbg.read_memory(1, VA + POKE, 4) == b"\x44\x33\x22\x11"
    assert dbg.read_memory(1, VA + PEEK, 4) == bytes(4)
    assert k.frames.nfree == free
    last = seg.frames[-1]
    assert k.frames.refcount(seg.frames[0]) == k.frames.refcount(last) == 1
    k.observer(Checker).run("test")
    k.run()
    assert dbg.client.stops == [(1, Reason.WATCHPOINT, VA + WATCH)]
    assert [p.status for p in k.procs] == [0]
    assert k.frames.nfree == k.stats.frames_free_at_boot
