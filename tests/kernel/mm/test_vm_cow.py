"""kernel/mm/vm.py's copy-on-write: AddressSpace.fork and break_cow, on a
real Machine's RAM (not booted; tests/test_fork.py boots the kernel)."""

import pytest

from emu.walk import READ, WRITE
from emu.x86 import PAGE_SIZE, PTE_ADDR, PTE_COW, PTE_P, PTE_U, PTE_W
from kernel.memlayout import USTACK_BASE, USTACK_TOP
from kernel.mm.vm import AddressSpace, NoMemory, Region, RegionKind, UserFault
from tests.kernel.mm.test_vm import frames, vm  # noqa: F401  (the fixture)

URW = PTE_P | PTE_W | PTE_U
UR = PTE_P | PTE_U
COW = PTE_P | PTE_U | PTE_COW
VA = 0x00400000
SHM = 0x40000000


def space(vm, npages=3):
    """An address space with a writable image of npages pages holding
    bytes 'page I', a read-only page after it and a shm region."""
    a = AddressSpace(vm)
    a.add_region(Region(VA, VA + npages * PAGE_SIZE, True, RegionKind.IMAGE))
    a.add_region(Region(VA + npages * PAGE_SIZE, VA + (npages + 1) *
                        PAGE_SIZE, False, RegionKind.IMAGE))
    a.add_region(Region(SHM, SHM + PAGE_SIZE, True, RegionKind.SHM))
    fs = frames(vm, npages + 2)
    a.map_pages(VA, fs[:npages], URW)
    a.map_pages(VA + npages * PAGE_SIZE, [fs[npages]], UR)
    a.map_pages(SHM, [fs[-1]], URW)
    for i in range(npages):
        a.copyout(VA + i * PAGE_SIZE, b"page %d" % i)
    return a, fs


def test_fork_shares_private_frames_copy_on_write_in_both(vm):
    a, fs = space(vm)
    free = vm.frames.nfree
    before = vm.hw.writes
    b = a.fork()
    # directory (kernel half), then per table one write on each side
    assert vm.hw.writes - before == 1 + 2
    assert vm.frames.nfree == free - 2                  # directory + table
    for s in (a, b):
        for i in range(3):
            assert s.pte(VA + i * PAGE_SIZE) & ~PTE_ADDR & 0xFFF == COW
            assert s.pte(VA + i * PAGE_SIZE) & PTE_ADDR == fs[i]
        assert s.pte(VA + 3 * PAGE_SIZE) & 0xFFF == UR   # read-only stays
    assert [vm.frames.refcount(pa) for pa in fs[:4]] == [2] * 4
    assert b.pte(SHM) == 0 and a.pte(SHM) == fs[-1] | URW
    assert [r.kind for r in b.regions] == [RegionKind.IMAGE, RegionKind.IMAGE]
    assert b.copyin(VA + PAGE_SIZE, 6) == b"page 1"
    assert vm.stats["ptes_written"] >= 4 + 3


def test_fork_without_frames_changes_nothing(vm):
    a, fs = space(vm)
    while vm.frames.nfree > 1:                          # directory, no table
        vm.frames.alloc()
    with pytest.raises(NoMemory):
        a.fork()
    assert a.pte(VA) == fs[0] | URW
    assert vm.frames.refcount(fs[0]) == 1 and vm.frames.nfree == 1


def test_write_breaks_by_copy_then_the_last_one_reuses(vm):
    a, fs = space(vm)
    b = a.fork()
    flushes = vm.hw.tlb_flushes
    assert b.break_cow(VA + PAGE_SIZE + 8) is True      # copied
    new = b.pte(VA + PAGE_SIZE) & PTE_ADDR
    assert new != fs[1] and b.pte(VA + PAGE_SIZE) & 0xFFF == URW
    assert vm.hw.read(new, 6) == b"page 1"
    assert vm.frames.refcount(fs[1]) == 1 and vm.frames.refcount(new) == 1
    assert a.break_cow(VA + PAGE_SIZE) is False         # reused
    assert a.pte(VA + PAGE_SIZE) == fs[1] | URW
    assert vm.hw.tlb_flushes == flushes + 2
    assert a.break_cow(VA + PAGE_SIZE) is None          # no longer COW
    assert a.break_cow(VA + 3 * PAGE_SIZE) is None      # read-only image
    assert vm.stats["cow_faults"] == 2 and vm.stats["cow_copies"] == 1


def test_copyout_breaks_cow_and_leaves_the_other_copy(vm):
    a, fs = space(vm)
    a.translate(VA, WRITE)                  # a cached WRITE entry, pre-fork
    b = a.fork()
    a.copyout(VA, b"PARENT")
    assert b.copyin(VA, 6) == b"page 0"
    assert a.copyin(VA, 6) == b"PARENT"
    assert a.pte(VA) & PTE_ADDR != fs[0]
    b.copyout(VA + 2 * PAGE_SIZE - 2, b"abcd")  # straddles two COW pages
    assert a.copyin(VA + 2 * PAGE_SIZE - 2, 4) == b"\0\0pa"
    assert vm.stats["cow_copies"] == 3
    with pytest.raises(UserFault):
        b.copyout(VA + 3 * PAGE_SIZE, b"x")   # read-only stays read-only


def test_copy_without_a_frame_is_no_memory(vm):
    a, fs = space(vm)
    b = a.fork()
    while vm.frames.alloc() is not None:
        pass
    with pytest.raises(NoMemory):
        b.break_cow(VA)
    assert b.pte(VA) & PTE_COW and vm.frames.refcount(fs[0]) == 2
    with pytest.raises(UserFault):
        b.copyout(VA, b"x")


def test_fork_then_destroy_returns_every_frame(vm):
    free = vm.frames.nfree
    a, _ = space(vm)
    a.add_region(Region(USTACK_BASE, USTACK_TOP, True, RegionKind.STACK,
                        pager=lambda r, va: vm.alloc_zeroed()))
    a.copyout(USTACK_TOP - 4, b"abcd")
    b = a.fork()
    c = b.fork()
    c.copyout(USTACK_TOP - 4, b"wxyz")
    b.copyout(VA, b"B")
    assert a.copyin(USTACK_TOP - 4, 4) == b"abcd"
    for s in (a, b, c):
        s.destroy()
    assert vm.frames.nfree == free


def test_fork_of_a_sparse_table_reads_walks_alike(vm):
    a, _ = space(vm, npages=1)
    b = a.fork()
    assert b.walk(VA, READ).pa == a.walk(VA, READ).pa
    assert not b.walk(VA, WRITE).ok and not a.walk(VA, WRITE).ok
