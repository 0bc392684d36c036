"""kernel.mm.access against the CPU's own MMU, in both paging modes.

A guest stores values with real instructions into private pages, a page
fork made copy-on-write, and a two-large-page SHM_HUGETLB attachment, then
stops at a write(1, "S", 1). There the test reads those values through the
access path (what the CPU stored, where the CPU stored it: the software
walk of each piece agrees), writes new ones through it (breaking
copy-on-write, faulting in a demand-zero page and an untouched large page
at an offset), and the guest checks with real loads that it sees them. A
debugger read of an untouched page takes nothing and reads zeros."""

import io

import pytest

from emu import x86
from emu.walk import FETCH, READ, WRITE
from kernel.mm.access import Agent, Intent, access, pieces, written_frames
from kernel.mm.vm import UserFault
from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.toolchain.programs import Programs

MODES = {"32": x86.PAGING_32, "pae": x86.PAGING_PAE}
HUGE = 0x60000000
COW = 0xBFFF2000                 # stack pages: private, demand-zero
FRESH = 0xBFFF4000               # never touched by the guest
UNTOUCHED = 0xBFFF6000

GUEST = r"""
#include "ia32k.h"
int main(int arg)
{
    u32 st[6];
    int id = shm_create(0, 1, 04600);           /* one large page */
    CHECK_EQ(shm_stat(id, st), 0);
    CHECK_EQ(shm_destroy(id), 0);
    u32 large = st[1];
    id = shm_create(0, 2 * large, 04600);
    volatile u32 *h = shm_attach(id, (void *)0x60000000, 0);
    CHECK_EQ((u32)h, 0x60000000);
    volatile u32 *cow = (u32 *)0xBFFF2000, *fresh = (u32 *)0xBFFF4000;
    cow[0] = 0xA1;
    h[0x1FFC / 4] = 0x44332211;
    h[0x2000 / 4] = 0x88776655;
    int pid = fork();
    write(1, "S", 1);
    u32 me = getpid();
    CHECK_EQ(cow[0], 0xC0DE0000 | me);
    CHECK_EQ(fresh[0], 0xD0000000 | me);
    CHECK_EQ(fresh[1], 0);
    if (pid == 0)
        return 0;
    int status = -1;
    CHECK_EQ(wait(pid, &status), pid);
    CHECK_EQ(status, 0);
    CHECK_EQ(*(volatile u32 *)((u32)h + large - 2), 0x04030201);
    CHECK_EQ(h[large / 4 + 1], 0);
    CHECK_EQ(shm_destroy(id), 0);
    return 0;
}
"""


def u32(v):
    return v.to_bytes(4, "little")


class Differential:
    """At each process's "S": the checks and writes of the docstring."""

    def __init__(self, k):
        self.k = k
        self.seen = []

    def on_output(self, p, fd, data):
        if data != b"S":
            return
        self.seen.append(p.pid)
        a = p.aspace
        self.agree(a, READ)
        assert self.read(a, COW, 4) == u32(0xA1)
        got = access(a, HUGE + 0x1FFE, 4, Intent.READ)
        assert [ln for _, ln in got] == [2, 2]
        assert got[0][0] + 2 == got[1][0]            # one large page
        assert self.read(a, HUGE + 0x1FFE, 4) == b"\x33\x44\x55\x66"
        free = self.k.frames.nfree
        assert access(a, UNTOUCHED, 8, Intent.READ, Agent.DEBUGGER) == \
            [(None, 8)]
        assert self.k.frames.nfree == free
        parent_cow = self.frame(a, COW)
        wrote = self.write(a, COW, u32(0xC0DE0000 | p.pid))
        assert written_frames(wrote) == [self.frame(a, COW)]
        assert self.frame(a, COW) != parent_cow or \
            self.k.frames.refcount(parent_cow) == 1  # copied, or reused
        self.write(a, FRESH, u32(0xD0000000 | p.pid))
        if p.pid == 1:
            large = self.k.vm.mode.large_size
            self.write(a, HUGE + large - 2, b"\x01\x02\x03\x04")
        self.agree(a, WRITE)
        for r in a.regions:                          # NX where the mode has it
            if r.executable or not self.k.vm.mode.nx:
                (pa, _), = access(a, r.start, 4, Intent.EXECUTE)
                assert pa == a.walk(r.start, FETCH).pa
            else:
                with pytest.raises(UserFault):
                    access(a, r.start, 4, Intent.EXECUTE)

    def frame(self, a, va):
        return a.walk(va).pa & ~(x86.PAGE_SIZE - 1)

    def read(self, a, va, n):
        return b"".join(self.k.hw.read(pa, ln)
                        for pa, ln in access(a, va, n, Intent.READ))

    def write(self, a, va, data):
        out, i = access(a, va, len(data), Intent.WRITE), 0
        for pa, ln in out:
            self.k.hw.write(pa, data[i:i + ln])
            i += ln
        return out

    def agree(self, a, kind):
        """Each piece is where the walker (checked against the MMU by
        tests/emu/test_walk_diff*.py) says the CPU would go."""
        for va, n in ((COW, 8), (HUGE + 0x1FF8, 16)):
            for (pa, ln), at in zip(pieces(a, va, n, Intent.of(kind)),
                                    (va, (va | 0xFFF) + 1)):
                assert pa == a.walk(at, kind).pa


@pytest.mark.parametrize("paging", MODES)
def test_access_path_against_the_mmu(tmp_path, paging):
    (tmp_path / "access.c").write_text(GUEST)
    progs = Programs()
    progs.add(tmp_path / "access.c")
    err = io.BytesIO()
    k = new_kernel(progs, memory=64 << 20, check=True, paging=paging,
                   console=Console(io.BytesIO(), err))
    d = Differential(k)
    k.attach(d)
    k.boot(["access"])
    k.run()
    assert [p.status for p in k.procs] == [0, 0], err.getvalue()
    assert sorted(d.seen) == [1, 2]
    assert k.frames.nfree == k.stats.frames_free_at_boot


def test_range_checks():
    class Nothing:
        def chunks(self, va, n, access):
            assert n == 0, "no page is resolved"
            return []
    for va, n in ((-1, 4), (0xFFFFFFFE, 4), (0, -1)):
        with pytest.raises(UserFault):
            access(Nothing(), va, n, Intent.READ)
    assert access(Nothing(), 0xFFFFFFFF, 0, Intent.WRITE) == []
