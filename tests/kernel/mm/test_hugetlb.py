"""Large-page shared memory (SHM_HUGETLB, docs/abi.md) in both paging modes:
size rounding, aligned placement, sharing across processes at different
aligned addresses through PDE leaves naming one contiguous run, demand-zero
by large page, freeing at destroy and detach, -ENOMEM when fragmented."""

import io

import pytest

from emu import x86
from emu.walk import WRITE
from kernel.mm.hugetlb import SHM_HUGETLB
from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.observe.check import Checker
from kernel.syscall import Errno
from tools.toolchain.programs import Programs

MB = 1 << 20
MODES = {"32": x86.PAGING_32, "pae": x86.PAGING_PAE}

SHARE = r"""
#include "ia32k.h"
/* arg 0: create a 3 MiB large-page segment, attach where the kernel
 * chooses, write, spawn arg 1 and wait; arg 1: attach at a fixed aligned
 * address (an unaligned one first: -EINVAL) and read what arg 0 wrote. */
int main(int arg)
{
    u32 st[6];
    if (arg == 0) {
        int id = shm_create(0x4855, 3 << 20, 04600);
        CHECK(id > 0);
        volatile u32 *p = shm_attach(id, 0, 0);
        CHECK(((u32)p & ((2 << 20) - 1)) == 0);
        CHECK_EQ(p[0x1FF000 / 4], 0);              /* zero on first touch */
        p[0x1FF000 / 4] = 0x12345678;
        p[0x3FF000 / 4] = 0x9ABCDEF0;
        CHECK_EQ(shm_stat(id, st), 0);
        CHECK_EQ(st[1], 4 << 20);                  /* rounded */
        CHECK_EQ(st[3], 04600);                    /* mode with HUGETLB */
        int status = -1, pid = spawn("hugeshare", 1);
        CHECK_EQ(wait(pid, &status), pid);
        CHECK_EQ(status, 0);
        CHECK_EQ(p[0], 0x600D);                    /* the child's write */
        CHECK_EQ(shm_destroy(id), 0);
        CHECK_EQ(shm_detach((void *)p), 0);
        return 0;
    }
    int id = shm_lookup(0x4855);
    CHECK(id > 0);
    CHECK_EQ((int)shm_attach(id, (void *)0x60100000, 0), -22);
    volatile u32 *q = shm_attach(id, (void *)0x60000000, 0);
    CHECK_EQ((u32)q, 0x60000000);
    CHECK_EQ(q[0x1FF000 / 4], 0x12345678);
    CHECK_EQ(q[0x3FF000 / 4], 0x9ABCDEF0);
    q[0] = 0x600D;
    return 0;
}
"""


@pytest.mark.parametrize("paging", MODES)
def test_two_processes_share_large_pages(run_sources, paging):
    r = run_sources({"hugeshare.c": SHARE}, ["hugeshare"], paging=paging)
    assert r.statuses == [0, 0], r.stderr
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


@pytest.fixture(params=list(MODES))
def kernel(request, tmp_path):
    (tmp_path / "idle.s").write_text("mov eax, SYS_EXIT\nxor ebx, ebx\n"
                                     "int 0x80\n")
    progs = Programs()
    progs.add(tmp_path / "idle.s")
    k = new_kernel(progs, memory=32 * MB, check=True, paging=request.param,
                   console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["idle", "idle"])
    return k


def test_leaves_name_one_contiguous_run(kernel):
    k, mode = kernel, kernel.vm.mode
    a, b = k.procs.get(1), k.procs.get(2)
    free = k.frames.nfree
    sid = k.shm.create(a, 0, mode.large_size + 1, 0o600 | SHM_HUGETLB)
    seg = k.shm.segments[sid]
    assert seg.size == 2 * mode.large_size and seg.page_size == mode.large_size
    assert k.frames.nfree == free - 2 * mode.large_pages   # reserved now
    first = seg.frames[0]
    assert first % mode.large_size == 0
    assert list(seg.frames[:mode.large_pages]) == \
        [first + i * x86.PAGE_SIZE for i in range(mode.large_pages)]
    va_a = k.shm.attach(a, sid, 0, 0)
    va_b = k.shm.attach(b, sid, 0x60000000 + mode.large_size * 3, 0)
    assert va_a % mode.large_size == 0 and va_b != va_a
    pa = a.aspace.translate(va_a + 0x1234, WRITE)          # first touch
    w = b.aspace.walk(va_b + 0x1234)
    assert not w.ok                                        # b: not yet
    assert b.aspace.translate(va_b + 0x1234, WRITE) == pa == first + 0x1234
    w = b.aspace.walk(va_b + 0x1234)
    assert w.large and w.levels[-1].name == "PDE"
    assert w.levels[-1].value & x86.PTE_PS
    assert k.frames.refcount(first) == 3                   # seg + 2 leaves
    assert k.frames.refcount(first + mode.large_size - x86.PAGE_SIZE) == 3
    k.observer(Checker).run("test")
    assert k.shm.attach(a, sid, 0x60000000 + x86.PAGE_SIZE, 0) == \
        -Errno.EINVAL
    k.shm.destroy(a, sid)
    k.shm.detach(a, va_a)
    assert k.frames.refcount(first) == 2
    k.shm.detach(b, va_b)
    assert k.frames.refcount(first) == 0 and k.frames.nfree == free
    k.observer(Checker).run("test")


def test_no_aligned_run_is_enomem_and_changes_nothing(kernel):
    k, mode = kernel, kernel.vm.mode
    a = k.procs.get(1)
    held = []
    while (pa := k.frames.alloc()) is not None:
        held.append(pa)
    for pa in held:                      # keep one frame per large page
        if pa % mode.large_size != mode.large_size // 2:
            k.frames.decref(pa)
    free = k.frames.nfree
    assert free > mode.large_pages       # plenty of memory, but no run
    assert k.shm.create(a, 0, 1, 0o600 | SHM_HUGETLB) == -Errno.ENOMEM
    assert k.frames.nfree == free and not k.shm.segments
    assert k.shm.create(a, 0, 1, 0o600) > 0                # 4 KiB: fine


def test_destroy_unattached_frees_the_runs(kernel):
    k, mode = kernel, kernel.vm.mode
    a = k.procs.get(1)
    free = k.frames.nfree
    sid = k.shm.create(a, 7, 3 * mode.large_size, 0o600 | SHM_HUGETLB)
    assert k.frames.nfree == free - 3 * mode.large_pages
    assert k.shm.destroy(a, sid) == 0
    assert k.frames.nfree == free
    k.observer(Checker).run("test")


def test_ipcs_and_maps_show_large_pages(kernel):
    from tools.observe.maps import maps_text
    from tools.observe.ipcs import ipcs_text
    k, mode = kernel, kernel.vm.mode
    a = k.procs.get(1)
    sid = k.shm.create(a, 9, 1, 0o600 | SHM_HUGETLB)
    k.shm.attach(a, sid, 0, 2)
    assert f"{mode.large_size >> 20}M pages" in ipcs_text(k.shm)
    a.aspace.translate(0x40000010, "write")        # first touch
    text = maps_text(a)
    assert "rwxs shm" in text
    run = f"{k.shm.segments[sid].frames[0]:#010x}-"
    shm_line, = [ln for ln in text.splitlines() if f"shm {sid}" in ln]
    assert run in shm_line and "-x" not in shm_line.split("frames")[-1]


FORKED = r"""
#include "ia32k.h"
/* A large-page attachment survives fork: the child sees and writes the
 * same frames (its PDE names the same large frame). */
int main(int arg)
{
    int id = shm_create(0, 1, 04600);
    volatile u32 *p = shm_attach(id, 0, 0);
    p[0] = 7;
    int pid = fork();
    if (pid == 0) {
        CHECK_EQ(p[0], 7);
        p[1] = 9;
        p[0x100000 / 4] = 11;                   /* 1 MiB in: same page */
        return 0;
    }
    int status = -1;
    CHECK_EQ(wait(pid, &status), pid);
    CHECK_EQ(status, 0);
    CHECK_EQ(p[1], 9);
    CHECK_EQ(p[0x100000 / 4], 11);
    CHECK_EQ(shm_destroy(id), 0);
    return 0;
}
"""


@pytest.mark.parametrize("paging", MODES)
def test_large_attachment_is_shared_across_fork(run_sources, paging):
    r = run_sources({"hugefork.c": FORKED}, ["hugefork"], paging=paging)
    assert r.statuses == [0, 0], r.stderr
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]
