"""Shared memory (kernel/ipc/shm.py, docs/abi.md calls 10-15): the userland test
programs for every error row, faults through detached and read-only
attachments, PTEs in two page directories naming one frame, demand-zero
frames, exhaustion, and the --report/--ipcs/--maps introspection."""

import io
import json
from array import array

import pytest

from tests.conftest import Run
from emu.walk import WRITE
from emu.x86 import PAGE_SIZE, PTE_P, PTE_W, pdx
from kernel.kernel import Console, Kernel
from kernel.memlayout import SHM_BASE, USER_IMAGE
from tools.observe.report import build_report
from kernel.ipc.shm import Segment, first_fit
from kernel.syscall import Errno
from kernel.mm.vm import AddressSpace, NoMemory, Region, RegionKind
from tools.toolchain.programs import Programs

MB = 1 << 20


def balanced(r):
    """Every segment destroyed and every process ended: no frame leaked."""
    assert r.report["segments"] == []
    assert r.stats["shm_frames"] == 0
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


class Probe:
    """A kernel observer recording, as each process exits, the frame its
    own page directory names for every page of its shm attachments."""

    def __init__(self):
        self.pages = {}          # (pid, va) -> (pa or None, raw PTE)
        self.segments = {}       # (pid, start) -> segment frames then

    def on_exit(self, p):
        for r in p.aspace.regions:
            if r.kind is not RegionKind.SHM:
                continue
            self.segments[(p.pid, r.start)] = r.obj.frames.tolist()
            for va in range(r.start, r.end, PAGE_SIZE):
                self.pages[(p.pid, va)] = (p.aspace.walk(va).pa,
                                           p.aspace.pte(va))


def run_probed(names, sources=None, tmp_path=None, **kw):
    """Boot userland names (plus sources written under tmp_path) with a
    Probe installed; return (Run, Probe)."""
    progs = Programs()
    for fname, text in (sources or {}).items():
        (tmp_path / fname).write_text(text)
        progs.add(tmp_path / fname)
    out, err = io.BytesIO(), io.BytesIO()
    k = Kernel(progs, console=Console(out, err), **kw)
    probe = Probe()
    k.attach(probe)
    k.boot(names)
    k.run()
    return Run(k, build_report(k), out.getvalue().decode("latin-1"),
               err.getvalue().decode("latin-1")), probe


# -- the userland test programs: every error row ---------------------------
@pytest.mark.parametrize("name", [
    "shm_create_test", "shm_attach_test", "shm_detach_test",
    "shm_destroy_test", "shm_stat_test", "shm_perm_test", "offptr_test",
    "shm_limits_test"])
def test_userland_program(run_userland, name):
    r = run_userland(name)
    assert set(r.statuses) == {0}, r.stderr
    balanced(r)


def test_64mib_is_available_and_attach_maps_it_in_bulk(run_userland):
    r = run_userland("shm_64mib_test")
    assert r.statuses == [0], r.stderr
    # one fault per page through the first attachment, none through the
    # alias attached after (a few more for the stack)
    assert 16384 <= r.stats["page_faults"] <= 16384 + 4
    balanced(r)


def test_use_after_detach_faults(run_userland):
    r = run_userland("shm_after_detach")
    f = r.proc(1)["fault"]
    assert r.status(1) == 270
    assert (f["cr2"], f["error_code"]) == (SHM_BASE, 4)    # user read, absent
    assert f["instruction"] == "mov eax, dword ptr [edi]"
    balanced(r)


def test_write_to_rdonly_attachment_faults_with_protection(run_userland):
    r = run_userland("shm_rdonly_write")
    f = r.proc(1)["fault"]
    assert r.status(1) == 270
    assert f["cr2"] == SHM_BASE + 2 * PAGE_SIZE            # the RO alias
    assert f["error_code"] == 7                 # user, write, protection
    assert f["instruction"] == "mov dword ptr [eax], 1"
    balanced(r)


def test_write_to_untouched_rdonly_page_faults(run_sources):
    r = run_sources({"parent.s": """
        lea ebx, [name]
        mov ecx, 16
        mov edx, 1
        mov eax, SYS_SPAWN
        int 0x80
        mov ebx, eax
        mov ecx, 0
        mov eax, SYS_WAIT
        int 0x80
        mov ebx, 0
        mov eax, SYS_EXIT
        int 0x80
    name: .ascii "shm_rdonly_write"
    """})
    f = r.proc(2)["fault"]
    assert r.statuses == [0, 270]
    assert (f["cr2"], f["error_code"]) == (SHM_BASE + 3 * PAGE_SIZE, 6)
    balanced(r)


# -- one frame, two page directories ---------------------------------------
def test_two_processes_share_the_same_physical_frames():
    r, probe = run_probed(["shmshare"])
    assert r.statuses == [0, 0]
    assert 'at 0x60000000 reads: "the parent wrote this through its ' \
        'mapping at 0x40000000"' in r.stdout
    assert 'at 0x40000000 reads: "the child wrote' in r.stdout
    frames = probe.segments[(1, 0x40000000)]
    assert len(frames) == 2 and all(frames)
    for i, pa in enumerate(frames):
        parent = probe.pages[(1, 0x40000000 + i * PAGE_SIZE)]
        child = probe.pages[(2, 0x60000000 + i * PAGE_SIZE)]
        assert parent[0] == child[0] == pa       # walked from each CR3
        assert parent[1] & PTE_W and child[1] & PTE_W
    assert frames[0] != frames[1]
    balanced(r)


def test_rdonly_attachment_ptes_have_rw_clear():
    r, probe = run_probed(["offlist"])
    assert r.statuses == [0, 0]
    pa, pte = probe.pages[(2, 0x70000000)]
    assert pte & PTE_P and not pte & PTE_W
    assert pa == probe.segments[(2, 0x70000000)][0]
    assert "offset pointers work at any address" in r.stdout
    balanced(r)


def test_absolute_pointers_fail_visibly(run_userland):
    r = run_userland("abslist")
    assert r.statuses == [0, 270, 1]
    f = r.proc(2)["fault"]
    assert SHM_BASE <= f["cr2"] < SHM_BASE + PAGE_SIZE  # the parent's address
    assert "child 1 exited with status 270: killed by a page fault" in r.stdout
    assert "child 2 exited with status 1: read the wrong data" in r.stdout
    balanced(r)


# -- the kernel directly: bulk attach, demand zero, no half-made state ------
@pytest.fixture
def kernel(tmp_path):
    """A booted kernel and a factory for idle processes in it."""
    src = tmp_path / "idle.s"
    src.write_text("mov eax, SYS_EXIT\nint 0x80\n")
    progs = Programs()
    progs.add(src)
    k = Kernel(progs, console=Console(io.BytesIO(), io.BytesIO()))
    k.new_proc = lambda: k.create_process("idle")
    return k


def touch_all(p, start, npages):
    """Write-touch npages at start as the CPU would: fault in what is
    not present."""
    for i in range(npages):
        p.aspace.translate(start + i * PAGE_SIZE, WRITE)


def finish(k, seg_ids):
    """Destroy seg_ids and end every live process: no frame may be left."""
    root = k.new_proc()
    for seg_id in seg_ids:
        assert k.shm.destroy(root, seg_id) == 0
    for p in list(k.procs):
        if p.alive:
            k.exit_process(p, 0)
    assert k.shm.segments == {} and k.shm.reserved == 0
    assert k.frames.nfree == k.stats.frames_free_at_boot


def test_attach_maps_touched_pages_in_bulk(kernel):
    k, a, b = kernel, kernel.new_proc(), kernel.new_proc()
    seg_id = k.shm.create(a, 0, 8 * MB, 0o600)
    start = k.shm.attach(a, seg_id, 0, 0)
    touch_all(a, start, 2048 - 1)                  # all but the last page
    writes = []
    real_write = k.hw.write
    k.hw.write = lambda pa, data: (writes.append(len(data)),
                                   real_write(pa, data))[1]
    at = k.shm.attach(b, seg_id, 0x20000000, 0)
    k.hw.write = real_write
    assert at == 0x20000000
    assert writes == [4096, 4092]                  # one write per page table
    for i in range(2048):
        pa_a = a.aspace.walk(start + i * PAGE_SIZE).pa
        pa_b = b.aspace.walk(at + i * PAGE_SIZE).pa
        assert pa_a == pa_b
        assert (pa_b is None) == (i == 2047)       # untouched: faults later
    seg = k.shm.segments[seg_id]
    assert k.frames.refcount(seg.frames[0]) == 3   # segment + two PTEs
    finish(k, [seg_id])


def test_create_takes_no_frame_and_touch_takes_one(kernel):
    k, p = kernel, kernel.new_proc()
    free = k.frames.nfree
    seg_id = k.shm.create(p, 0, 64 * MB, 0o600)
    start = k.shm.attach(p, seg_id, 0, 0)
    assert k.frames.nfree == free                  # not even a page table
    assert p.aspace.fault_in(start + 5 * PAGE_SIZE, False)
    assert k.frames.nfree == free - 2              # the page and its table
    pa = p.aspace.walk(start + 5 * PAGE_SIZE).pa
    assert k.hw.read(pa, PAGE_SIZE) == bytes(PAGE_SIZE)
    assert k.shm.frames_in_use() == 1
    finish(k, [seg_id])


def test_failed_attach_changes_nothing(kernel):
    k, a, b = kernel, kernel.new_proc(), kernel.new_proc()
    seg_id = k.shm.create(a, 0, 8 * MB, 0o600)
    start = k.shm.attach(a, seg_id, 0, 0)
    touch_all(a, start, 2048)
    seg = k.shm.segments[seg_id]
    hoard = []
    while k.frames.nfree > 1:                      # room for one table only
        hoard.append(k.frames.alloc())
    refs = [k.frames.refcount(pa) for pa in seg.frames]
    assert k.shm.attach(b, seg_id, 0, 0) == -Errno.ENOMEM
    assert [k.frames.refcount(pa) for pa in seg.frames] == refs
    assert len(seg.attachments) == 1 and k.frames.nfree == 1
    assert [r.kind for r in b.aspace.regions] == [RegionKind.IMAGE,
                                                  RegionKind.STACK]
    assert b.aspace.pte(SHM_BASE) == 0 and pdx(SHM_BASE) not in b.aspace.tables
    for pa in hoard:
        k.frames.decref(pa)
    finish(k, [seg_id])


def test_fault_without_a_frame_for_the_page_table_leaks_nothing(kernel):
    k, p = kernel, kernel.new_proc()
    seg_id = k.shm.create(p, 0, PAGE_SIZE, 0o600)
    start = k.shm.attach(p, seg_id, 0, 0)
    hoard = []
    while k.frames.nfree > 1:                      # the page, not its table
        hoard.append(k.frames.alloc())
    with pytest.raises(NoMemory):
        p.aspace.fault_in(start, True)
    pa = k.shm.segments[seg_id].frames[0]
    assert k.frames.refcount(pa) == 1              # the segment's alone
    for h in hoard:
        k.frames.decref(h)
    finish(k, [seg_id])


def test_exit_detaches_and_destroy_frees_at_last_detach(kernel):
    k, a, b = kernel, kernel.new_proc(), kernel.new_proc()
    boot_free = k.stats.frames_free_at_boot
    seg_id = k.shm.create(a, 7, 3 * PAGE_SIZE, 0o600)
    for p in (a, a, b):
        touch_all(p, k.shm.attach(p, seg_id, 0, 0), 3)
    assert k.shm.destroy(a, seg_id) == 0
    k.exit_process(a, 0)
    seg = k.shm.segments[seg_id]
    assert [x.pid for x in seg.attachments] == [b.pid]
    assert all(k.frames.refcount(pa) == 2 for pa in seg.frames)
    k.exit_process(b, 0)
    assert seg_id not in k.shm.segments and k.shm.reserved == 0
    assert k.frames.nfree == boot_free


# -- pure helpers ----------------------------------------------------------
@pytest.mark.parametrize("mode,uid,write,ok", [
    (0o600, 5, True, True), (0o400, 5, True, False), (0o400, 5, False, True),
    (0o066, 5, False, False), (0o604, 9, False, True), (0o604, 9, True, False),
    (0o602, 9, False, False), (0o000, 0, True, True), (0o060, 9, False, False)])
def test_permission_bits(mode, uid, write, ok):
    seg = Segment(1, 0, PAGE_SIZE, owner=5, mode=mode, creator=1)
    assert seg.allows(uid, write) is ok


def test_touched_runs():
    seg = Segment(1, 0, 6 * PAGE_SIZE, 0, 0o600, 1)
    assert seg.touched_runs() == []
    seg.frames = array("I", [0, 0x1000, 0x5000, 0, 0, 0x9000])
    seg.nframes = 3
    assert seg.touched_runs() == [(1, [0x1000, 0x5000]), (5, [0x9000])]


def test_first_fit(kernel):
    aspace = AddressSpace(kernel.vm)
    for start, end in ((0x1000, 0x3000), (0x5000, 0x6000)):
        aspace.add_region(Region(start, end, True, RegionKind.SHM))
    assert first_fit(aspace, 0x2000, 0x1000, 0x10000) == 0x3000
    assert first_fit(aspace, 0x3000, 0x1000, 0x10000) == 0x6000
    assert first_fit(aspace, 0x3000, 0x1000, 0x8000) is None
    assert first_fit(aspace, 0x1000, 0x0, 0x10000) == 0x0
    aspace.destroy()


# -- lifetime, exhaustion, other processes --------------------------------
OUTLIVE_CREATOR = """
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x0badcafe
    mov ecx, 4096
    mov edx, 0x1a4
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0
    mov edx, 0
    int 0x80
    mov dword ptr [eax], 0x600d
    mov ebx, 0
    mov eax, SYS_EXIT
    int 0x80
"""

OUTLIVE_READER = """
wait_key:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x0badcafe
    int 0x80
    cmp eax, 0
    jl wait_key
    mov esi, eax
wait_exit:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_SHM_STAT
    mov ebx, esi
    lea ecx, [buf]
    int 0x80
    cmp dword ptr [buf + 16], 0
    jne wait_exit
    mov eax, SYS_SHM_ATTACH
    mov ebx, esi
    mov ecx, 0
    mov edx, SHM_RDONLY
    int 0x80
    mov edi, [eax]
    mov eax, SYS_SHM_DESTROY
    mov ebx, esi
    int 0x80
    mov ebx, edi
    mov eax, SYS_EXIT
    int 0x80
buf: .zero 24
"""


def test_segment_outlives_its_creator(run_sources):
    r = run_sources({"creator.s": OUTLIVE_CREATOR, "reader.s": OUTLIVE_READER})
    assert r.statuses == [0, 0x600d]
    balanced(r)


def test_undestroyed_segment_stays_with_its_frames(run_sources):
    r = run_sources({"creator.s": OUTLIVE_CREATOR})
    assert r.statuses == [0]
    [seg] = r.report["segments"]
    assert seg == {"id": 1, "key": 0x0badcafe, "size": 4096, "owner": 0,
                   "mode": 0o644, "creator": 1, "destroyed": False,
                   "frames": 1, "page_size": 4096, "attachments": []}
    s = r.stats
    assert s["shm_frames"] == 1
    assert s["frames_free_at_end"] + 1 == s["frames_free_at_boot"]


BYSTANDER = """
    mov esi, 300
spin:
    mov eax, SYS_YIELD
    int 0x80
    dec esi
    jnz spin
    mov ebx, [data]
    mov eax, SYS_EXIT
    int 0x80
data: .long 0
"""


def test_physical_memory_exhaustion_is_clean(run_sources):
    r = run_sources({"bystander.s": BYSTANDER},
                    boot_names=["shm_oom_test", "bystander"], memory=8 * MB)
    assert r.statuses == [0, 0, 270, 0], r.stderr
    assert r.proc(3)["fault"]["error_code"] == 6
    assert "pid 3 (shm_oom_test): out of memory" in r.stderr
    assert "child status 270" in r.stdout
    balanced(r)


# -- the command line ------------------------------------------------------
def test_cli_report_ipcs_and_maps(ia32k, tmp_path):
    prog = tmp_path / "keeper.s"
    prog.write_text(OUTLIVE_CREATOR)
    rep = tmp_path / "r.json"
    cp = ia32k("run", "--report", str(rep), "--ipcs", "--maps",
               "userland/demo/shmshare.c", str(prog))
    assert cp.returncode == 0, cp.stderr
    report = json.loads(rep.read_text())
    assert [s["key"] for s in report["segments"]] == [0x0badcafe]
    assert report["stats"]["shm_frames"] == 1
    assert "0x0badcafe      2      0   644       4096      0      1     2" \
        in cp.stderr
    assert "1 segment(s), 1 frame(s)" in cp.stderr
    maps = {}
    for line in cp.stderr.splitlines():
        if line.startswith("maps of pid"):
            cur = maps.setdefault(int(line.split()[3]), [])
        elif line.startswith("  ") and "maps of" not in line:
            cur.append(line.split())
    shm1 = [ln for ln in maps[1] if ln[2] == "shm"][0]    # shmshare
    shm2 = [ln for ln in maps[3] if ln[2] == "shm"][0]    # its child
    assert shm1[0] == "40000000-40002000" and shm2[0] == "60000000-60002000"
    assert shm1[1] == shm2[1] == "rwxs"
    assert shm1[shm1.index("frames"):] == shm2[shm2.index("frames"):]
    assert len(shm2[shm2.index("frames") + 1:]) == 2        # two frames
    assert maps[1][0][:3] == [f"{USER_IMAGE:08x}-00403000", "r-xp", "image"]
    assert "stack" in maps[3][-1]
    assert cp.stdout.count("reads:") == 2                   # stdout untouched
