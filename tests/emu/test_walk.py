"""emu/walk.py: the software walker over hand-built tables in a bytearray."""

import itertools
import struct

import pytest

from emu.walk import FETCH, READ, WRITE, walk
from emu.x86 import PAGING_32, PTE_P, PTE_PS, PTE_U, PTE_W

CR3, PT, FRAME, BIG = 0x1000, 0x2000, 0x5000, 0x00C00000
VA_SMALL = 0x00401234          # PDE 1 -> PT, PTE 1 -> FRAME
VA_LARGE = 0x00923456          # PDE 2: a 4 MiB page at BIG
VA_NO_PDE = 0x00C00000         # PDE 3 absent
VA_NO_PTE = 0x00402000         # PDE 1 present, PTE 2 absent


class Ram:
    """Physical memory as a bytearray, with the read32 the walker wants."""

    def __init__(self):
        self.b = bytearray(0x10000)

    def read32(self, pa):
        return struct.unpack_from("<I", self.b, pa)[0]

    def write32(self, pa, v):
        struct.pack_into("<I", self.b, pa, v)


def tables(pde_flags=PTE_P | PTE_W | PTE_U, pte_flags=PTE_P | PTE_W | PTE_U,
           big_flags=PTE_P | PTE_W | PTE_U):
    ram = Ram()
    ram.write32(CR3 + 4 * 1, PT | pde_flags)
    ram.write32(PT + 4 * 1, FRAME | pte_flags)
    ram.write32(CR3 + 4 * 2, BIG | PTE_PS | big_flags)
    return ram


def test_4k_translation_and_levels():
    ram = tables()
    w = walk(ram.read32, CR3, VA_SMALL, READ, user=True, mode=PAGING_32)
    assert w.ok and w.pa == FRAME + 0x234 and not w.large
    assert [(lv.name, lv.index, lv.addr) for lv in w.levels] == [
        ("PDE", 1, CR3 + 4), ("PTE", 1, PT + 4)]
    assert w.levels[1].value == FRAME | PTE_P | PTE_W | PTE_U
    assert w.error_code is None


def test_4m_translation_keeps_22_offset_bits():
    ram = tables()
    w = walk(ram.read32, CR3, VA_LARGE, WRITE, user=True, mode=PAGING_32)
    assert w.ok and w.large and w.pa == BIG + 0x123456
    assert len(w.levels) == 1


def test_ps_ignored_without_pse():
    # With CR4.PSE off the PDE names a page table at BIG: its entries are 0.
    ram = Ram()
    ram.b = bytearray(0x00D00000)
    ram.write32(CR3 + 8, BIG | PTE_PS | PTE_P | PTE_W | PTE_U)
    ram.write32(BIG + 4 * 0x123, FRAME | PTE_P | PTE_U)
    w = walk(ram.read32, CR3, VA_LARGE, READ, pse=False, mode=PAGING_32)
    assert w.ok and w.pa == FRAME + 0x456 and len(w.levels) == 2


def test_walk_writes_no_accessed_or_dirty_bits():
    ram = tables()
    before = bytes(ram.b)
    for va in (VA_SMALL, VA_LARGE, VA_NO_PTE):
        walk(ram.read32, CR3, va, WRITE, mode=PAGING_32)
    assert bytes(ram.b) == before


@pytest.mark.parametrize("va, access, user, code", [
    (VA_NO_PDE, READ, True, 0x4),
    (VA_NO_PDE, WRITE, True, 0x6),
    (VA_NO_PTE, READ, True, 0x4),
    (VA_NO_PTE, WRITE, False, 0x2),
    (VA_NO_PTE, READ, False, 0x0),
    # 32-bit paging without SMEP never sets I/D (SDM 4.7): the CPU reports
    # a fetch like a read. Measured on the emulated CPU in test_isolation.
    (VA_NO_PTE, FETCH, True, 0x4),
    (0x0, FETCH, True, 0x4),
])
def test_not_present_error_codes(va, access, user, code):
    w = walk(tables().read32, CR3, va, access, user, mode=PAGING_32)
    assert not w.ok and w.pa is None
    assert w.error_code == code


def _allowed(pde, pte, access, user, wp):
    """The SDM's rule (4.6), written independently of the walker."""
    u = pde & pte & PTE_U
    wr = pde & pte & PTE_W
    if user and not u:
        return False
    if access == WRITE:
        return bool(wr) or (not user and not wp)
    return True


FLAGS = [PTE_P, PTE_P | PTE_W, PTE_P | PTE_U, PTE_P | PTE_W | PTE_U]


@pytest.mark.parametrize("pde, pte", list(itertools.product(FLAGS, FLAGS)))
def test_us_rw_combined_across_pde_and_pte(pde, pte):
    ram = tables(pde_flags=pde, pte_flags=pte)
    for access, user, wp in itertools.product((READ, WRITE, FETCH),
                                              (True, False), (True, False)):
        w = walk(ram.read32, CR3, VA_SMALL, access, user, wp=wp,
                 mode=PAGING_32)
        ok = _allowed(pde, pte, access, user, wp)
        assert w.ok == ok, (access, user, wp)
        if not ok:
            assert w.error_code == (1 | (2 if access == WRITE else 0)
                                    | (4 if user else 0))


@pytest.mark.parametrize("flags", FLAGS)
def test_4m_page_rights(flags):
    ram = tables(big_flags=flags)
    for access, user, wp in itertools.product((READ, WRITE), (True, False),
                                              (True, False)):
        w = walk(ram.read32, CR3, VA_LARGE, access, user, wp=wp,
                 mode=PAGING_32)
        assert w.ok == _allowed(flags, flags, access, user, wp)


def test_cr0_wp_governs_supervisor_writes_to_read_only_pages():
    ram = tables(pte_flags=PTE_P | PTE_U)
    assert not walk(ram.read32, CR3, VA_SMALL, WRITE, user=False, wp=True,
                    mode=PAGING_32).ok
    assert walk(ram.read32, CR3, VA_SMALL, WRITE, user=False, wp=False,
                mode=PAGING_32).ok
    # WP never lets the user write, and the supervisor may read user pages.
    assert not walk(ram.read32, CR3, VA_SMALL, WRITE, user=True, wp=False,
                    mode=PAGING_32).ok
    assert walk(ram.read32, CR3, VA_SMALL, READ, user=False, mode=PAGING_32).ok


def test_writable_property_ands_the_levels():
    assert walk(tables().read32, CR3, VA_SMALL, mode=PAGING_32).writable
    ram = tables(pde_flags=PTE_P | PTE_U)
    assert not walk(ram.read32, CR3, VA_SMALL, mode=PAGING_32).writable
