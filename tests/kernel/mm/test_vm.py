"""kernel/mm/vm.py: address spaces over a real Machine's RAM (not booted:
the walker, not the CPU, is what these tests exercise)."""

import pytest

from emu.machine import Machine
from emu.walk import READ, WRITE
from emu.x86 import PAGE_SIZE, PAGING_32, PTE_ADDR, PTE_P, PTE_U, PTE_W, pdx, \
    ptx
from kernel.boot import kernel_pdes
from kernel.mm.frames import Frames
from kernel.memlayout import FIRST_FREE_PA, USTACK_BASE, USTACK_TOP
from kernel.mm.vm import VM, AddressSpace, NoMemory, Region, RegionKind, \
    UserFault

MEM = 8 << 20
URW = PTE_P | PTE_W | PTE_U
VA = 0x00400000


class Counting(Machine):
    """A Machine that counts physical writes, TLB flushes and code flushes."""

    def __init__(self, memory):
        super().__init__(memory)
        self.writes = self.tlb_flushes = self.code_flushes = 0

    def write(self, pa, data):
        self.writes += 1
        super().write(pa, data)

    def flush_tlb(self):
        self.tlb_flushes += 1

    def flush_code(self):
        self.code_flushes += 1


@pytest.fixture
def vm():
    hw = Counting(MEM)
    half = bytearray(4 * 256)
    for i, v in kernel_pdes(MEM, PAGING_32):
        half[4 * (i - 768):4 * (i - 767)] = v.to_bytes(4, "little")
    return VM(hw, Frames(FIRST_FREE_PA, MEM), bytes(half), PAGING_32,
              on_tables_changed=lambda aspace, *_: hw.flush_tlb())


def frames(vm, n):
    return [vm.alloc_zeroed() for _ in range(n)]


def test_new_space_shares_the_kernel_half(vm):
    free = vm.frames.nfree
    a = AddressSpace(vm)
    assert vm.frames.nfree == free - 1
    assert vm.hw.read(a.pd + 4 * 768, 1024) == vm.kernel_half
    assert vm.hw.read(a.pd, 4 * 768) == bytes(4 * 768)
    assert not a.walk(0xC0000000, READ, user=True).ok
    assert a.walk(0xC0000000, READ, user=False).pa == 0


def test_map_points_ptes_at_frames_with_flags(vm):
    a = AddressSpace(vm)
    fs = frames(vm, 3)
    a.map_pages(VA, fs, URW)
    for i, pa in enumerate(fs):
        assert a.pte(VA + i * PAGE_SIZE) == pa | URW
        assert a.walk(VA + i * PAGE_SIZE + 5, WRITE).pa == pa + 5
        assert vm.frames.refcount(pa) == 1
    pt = a.tables[pdx(VA)]
    assert vm.hw.read32(a.pd + 4 * pdx(VA)) == pt | URW
    assert vm.frames.refcount(pt) == 1
    assert a.pte(VA + 3 * PAGE_SIZE) == 0 and a.pte(0x0) == 0


def test_bulk_map_is_one_physical_write_per_page_table(vm):
    a = AddressSpace(vm)
    fs = frames(vm, 1024)
    before = vm.hw.writes
    a.map_pages(VA, fs, URW)                  # exactly one page table
    assert vm.hw.writes - before == 1
    fs2 = frames(vm, 10)
    before = vm.hw.writes
    a.map_pages(0x00BFB000, fs2, URW)         # 5 pages in PT 2, 5 in PT 3
    assert vm.hw.writes - before == 2
    assert a.pte(0x00BFB000) == fs2[0] | URW
    assert a.pte(0x00C04000) == fs2[9] | URW
    assert vm.stats["ptes_written"] == 1034


def test_map_without_frames_for_tables_changes_nothing(vm):
    a = AddressSpace(vm)
    pa = vm.alloc_zeroed()
    while vm.frames.alloc() is not None:
        pass
    with pytest.raises(NoMemory):
        a.map_pages(VA, [pa], URW)
    assert a.tables == {} and vm.frames.refcount(pa) == 1
    assert a.tables_needed(VA, 1) == 1
    assert a.tables_needed(0x003FF000, 2) == 2


def test_unmap_drops_references_and_flushes_the_tlb(vm):
    a, b = AddressSpace(vm), AddressSpace(vm)
    fs = frames(vm, 4)
    a.map_pages(VA, fs, URW)
    for pa in fs[:2]:
        vm.frames.incref(pa)                  # b's PTEs own one each
    b.map_pages(0x40000000, fs[:2], PTE_P | PTE_U)
    free, flushes = vm.frames.nfree, vm.hw.tlb_flushes
    a.unmap_pages(VA, 4)
    assert vm.hw.tlb_flushes == flushes + 1
    assert [a.pte(VA + i * PAGE_SIZE) for i in range(4)] == [0] * 4
    assert vm.frames.nfree == free + 2        # fs[2], fs[3]
    assert [vm.frames.refcount(pa) for pa in fs] == [1, 1, 0, 0]
    assert b.walk(0x40001000, READ).pa == fs[1]
    b.unmap_pages(0x40000000, 2)
    assert vm.frames.nfree == free + 4


def test_unmap_skips_missing_tables_and_absent_ptes(vm):
    a = AddressSpace(vm)
    pa = vm.alloc_zeroed()
    a.map_pages(0x00C00000, [pa], URW)
    free = vm.frames.nfree
    a.unmap_pages(0x00BFE000, 8)              # PT 2 absent, PT 3 sparse
    assert vm.frames.nfree == free + 1 and a.pte(0x00C00000) == 0


def test_destroy_returns_every_frame(vm):
    free = vm.frames.nfree
    a = AddressSpace(vm)
    a.map_pages(VA, frames(vm, 3), URW)
    a.add_region(Region(VA, VA + 3 * PAGE_SIZE, True, RegionKind.IMAGE))
    a.add_region(Region(USTACK_BASE, USTACK_TOP, True, RegionKind.STACK,
                        pager=lambda r, va: vm.alloc_zeroed()))
    a.copyout(USTACK_TOP - 4, b"abcd")        # demand-zero stack page
    a.copyout(USTACK_BASE, b"x")
    assert vm.frames.nfree < free - 5
    a.destroy()
    assert vm.frames.nfree == free


def test_detach_hook_runs_once_on_remove(vm):
    a = AddressSpace(vm)
    seen = []
    r = Region(VA, VA + PAGE_SIZE, True, RegionKind.SHM, detach=seen.append)
    a.add_region(r)
    a.map_pages(VA, frames(vm, 1), URW)
    a.remove_region(r)
    assert seen == [r] and a.regions == [] and a.pte(VA) == 0


def test_regions_and_free_ranges(vm):
    a = AddressSpace(vm)
    r1 = Region(0x00400000, 0x00402000, True, RegionKind.IMAGE)
    r2 = Region(0x40000000, 0x40001000, True, RegionKind.SHM)
    a.add_region(r2)
    a.add_region(r1)
    assert a.regions == [r1, r2]
    assert a.region_at(0x00401FFF) is r1 and a.region_at(0x00402000) is None
    assert a.is_free(0x00402000, 0x40000000)
    assert not a.is_free(0x00401000, 0x00403000)
    assert not a.is_free(0x3FFFF000, 0x40000001)
    assert not a.is_free(0x0, 0x1000)                    # page 0
    assert not a.is_free(0xBFFFF000, 0xC0001000)         # kernel half
    assert not a.is_free(0x5000, 0x5000)


@pytest.fixture
def two_pages(vm):
    """VA: a writable page; VA+1 page: read-only; VA+2 pages: unmapped.
    The two mapped frames are not physically adjacent."""
    a = AddressSpace(vm)
    f0, _, f1 = frames(vm, 3)
    a.map_pages(VA, [f0], URW)
    a.map_pages(VA + PAGE_SIZE, [f1], PTE_P | PTE_U)
    vm.hw.write(f1, b"RO" * 2048)
    return a


def test_copy_across_a_page_edge(two_pages):
    a = two_pages
    a.copyout(VA + PAGE_SIZE - 3, b"xyz")
    assert a.copyin(VA + PAGE_SIZE - 3, 7) == b"xyzRORO"
    assert a.copyin(VA + 2 * PAGE_SIZE - 2, 2) == b"RO"


@pytest.mark.parametrize("va, n", [
    (VA + 2 * PAGE_SIZE - 2, 3),         # one byte into the unmapped page
    (VA + 2 * PAGE_SIZE, 1),
    (0x0, 1), (0xFFF, 1),                # page 0
    (0xC0000000, 4), (0xBFFFFFFF, 2),    # kernel half
    (0xFFFFFFFF, 2),                     # wraps past 4 GiB
])
def test_copyin_efault_exact(two_pages, va, n):
    with pytest.raises(UserFault):
        two_pages.copyin(va, n)


def test_copyin_last_byte_before_the_hole_is_fine(two_pages):
    assert two_pages.copyin(VA + 2 * PAGE_SIZE - 1, 1) == b"O"
    assert two_pages.copyin(VA + 2 * PAGE_SIZE, 0) == b""


def test_copyout_is_all_or_nothing(two_pages, vm):
    a = two_pages
    a.copyout(VA + PAGE_SIZE - 4, b"keep")
    with pytest.raises(UserFault):        # crosses into the read-only page
        a.copyout(VA + PAGE_SIZE - 4, b"clobber!")
    assert a.copyin(VA + PAGE_SIZE - 4, 8) == b"keepRORO"
    with pytest.raises(UserFault):
        a.copyout(VA + PAGE_SIZE, b"x")
    a.copyout(VA + PAGE_SIZE - 1, b"!")


def test_check_names_the_access(two_pages):
    a = two_pages
    a.check(VA, 2 * PAGE_SIZE, READ)
    with pytest.raises(UserFault) as e:
        a.check(VA, 2 * PAGE_SIZE, WRITE)
    assert e.value.va == VA + PAGE_SIZE
    assert e.value.walk.error_code == 0x7


def test_supervisor_only_page_is_efault(vm):
    a = AddressSpace(vm)
    a.map_pages(VA, frames(vm, 1), PTE_P | PTE_W)
    with pytest.raises(UserFault):
        a.copyin(VA, 1)


def _stack(vm, a, pages=None):
    pages = [] if pages is None else pages

    def pager(region, va):
        pages.append(va)
        return vm.alloc_zeroed()
    a.add_region(Region(USTACK_BASE, USTACK_TOP, True, RegionKind.STACK,
                        pager=pager))
    return pages


def test_user_copies_fault_in_demand_zero_pages(vm):
    a = AddressSpace(vm)
    pages = _stack(vm, a)
    assert a.copyin(USTACK_TOP - 8, 8) == bytes(8)
    a.copyout(USTACK_TOP - PAGE_SIZE - 2, b"abcd")
    assert pages == [USTACK_TOP - PAGE_SIZE, USTACK_TOP - 2 * PAGE_SIZE]
    assert a.copyin(USTACK_TOP - PAGE_SIZE - 2, 4) == b"abcd"
    with pytest.raises(UserFault):
        a.copyin(USTACK_BASE - 1, 2)        # below the stack
    assert len(pages) == 2


def test_fault_in_rules(vm):
    a = AddressSpace(vm)
    ro = Region(VA, VA + PAGE_SIZE, False, RegionKind.SHM,
                pager=lambda r, va: vm.alloc_zeroed())
    a.add_region(ro)
    assert not a.fault_in(VA, write=True)        # read-only region
    assert a.fault_in(VA + 8, write=False)
    assert a.pte(VA) & (PTE_P | PTE_W | PTE_U) == PTE_P | PTE_U
    assert not a.fault_in(VA, write=False)       # already present
    assert not a.fault_in(0x00800000, write=False)   # no region
    a.add_region(Region(0x00800000, 0x00801000, True, RegionKind.SHM,
                        pager=lambda r, va: None))
    with pytest.raises(NoMemory):
        a.fault_in(0x00800000, write=False)


def test_reused_frames_flush_translated_code(vm):
    pa = vm.alloc_zeroed()
    assert vm.hw.code_flushes == 0
    vm.hw.write(pa, b"\xcc" * 16)
    vm.frames.decref(pa)
    again = vm.alloc_zeroed()
    assert again == pa and vm.hw.read(pa, 16) == bytes(16)
    assert vm.hw.code_flushes == 1
    vm.alloc_zeroed()
    assert vm.hw.code_flushes == 1
