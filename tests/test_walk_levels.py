"""emu.walk on hand-built tables, each outcome worked out from the SDM
(the differential test checks the same walker against the CPU)."""

import pytest

from emu import x86
from emu.walk import FETCH, READ, WRITE, large_page_pa, walk

P, W, U, A, D, PS = (x86.PTE_P, x86.PTE_W, x86.PTE_U, x86.PTE_A, x86.PTE_D,
                     x86.PTE_PS)
CR3, PT, FRAME = 0x1000, 0x2000, 0x9000


def tables(pde, pte=0, index=0):
    """A read32 over a dict: PDE 0 = pde; PTE[index] of the table = pte."""
    mem = {CR3: pde, PT + 4 * index: pte}
    return lambda pa: mem.get(pa, 0)


def test_4k_page_translates_offset_and_records_both_levels():
    w = walk(tables(PT | P | W | U, FRAME | P | W | U, 5), CR3, 0x5ABC)
    assert w.ok and w.pa == FRAME | 0xABC and not w.large
    assert [(lv.name, lv.index, lv.addr) for lv in w.levels] == \
        [("PDE", 0, CR3), ("PTE", 5, PT + 20)]
    assert w.levels[1].flags == "P W U"


def test_not_present_pde_and_pte():
    assert walk(tables(0), CR3, 0x10, WRITE).error_code == x86.PF_W | x86.PF_U
    w = walk(tables(PT | P | W | U, FRAME), CR3, 0x10, READ, user=False)
    assert w.error_code == 0 and w.reason == "not present"
    assert len(w.levels) == 2


@pytest.mark.parametrize("pde_bits,pte_bits,access,user,wp,error", [
    (W | U, W | U, WRITE, True, True, None),
    (U, W | U, WRITE, True, True, 7),          # R/W of the PDE counts too
    (W | U, U, WRITE, True, True, 7),
    (W | U, W, READ, True, True, 5),           # supervisor page
    (W, W | U, FETCH, True, True, 5),          # fetch faults like a read
    (U, U, WRITE, False, True, 3),             # CR0.WP protects from ring 0
    (U, U, WRITE, False, False, None),         # ...unless WP is off
    (0, 0, READ, False, True, None),           # ring 0 reads anything
    (0, 0, FETCH, False, True, None),          # no NX, no SMEP
])
def test_rights_combine_across_levels(pde_bits, pte_bits, access, user, wp,
                                      error):
    read32 = tables(PT | P | pde_bits, FRAME | P | pte_bits)
    w = walk(read32, CR3, 0x123, access, user, wp)
    assert w.error_code == error
    assert w.ok == (error is None)


def test_fetch_fault_has_no_id_bit():
    w = walk(tables(0), CR3, 0x400000, FETCH)
    assert w.error_code == x86.PF_U and not w.error_code & x86.PF_I


def test_4mib_page_and_pse_36_bits():
    pde = 0x00C00000 | P | W | U | PS
    w = walk(tables(pde), CR3, 0x3ABCDE)
    assert w.large and w.pa == 0x00C00000 | 0x3ABCDE and len(w.levels) == 1
    high = pde | (0x3 << 13)                   # physical bits 33..32
    assert large_page_pa(high, 0x10) == 0x3_00C00010


def test_4mib_reserved_bit_faults_before_rights():
    pde = 0x00C00000 | P | PS | x86.PDE_LARGE_RSVD     # supervisor, too
    w = walk(tables(pde), CR3, 0x10, WRITE, user=True)
    assert w.error_code == x86.PF_RSVD | x86.PF_P | x86.PF_W | x86.PF_U
    assert w.reason == "reserved bit"


def test_ps_ignored_without_pse():
    pde = PT | P | W | U | PS
    w = walk(tables(pde, FRAME | P | U), CR3, 0x10, pse=False)
    assert not w.large and w.pa == FRAME | 0x10


def test_accessed_dirty_prediction():
    read32 = tables(PT | P | W | U, FRAME | P | W | U)
    w = walk(read32, CR3, 0x10, WRITE, ad=True)
    assert w.ad_updates() == [(CR3, PT | P | W | U | A),
                              (PT, FRAME | P | W | U | A | D)]
    r = walk(read32, CR3, 0x10, READ, ad=True)
    assert r.levels[1].after == FRAME | P | W | U | A
    assert walk(read32, CR3, 0x10).levels[0].after is None   # ad off


def test_faulting_walk_sets_a_only_in_the_pde_it_used():
    read32 = tables(PT | P | U, FRAME | P | U)
    w = walk(read32, CR3, 0x10, WRITE, ad=True)
    assert not w.ok
    assert w.ad_updates() == [(CR3, PT | P | U | A)]
    big = walk(tables(P | U | PS), CR3, 0x10, WRITE, ad=True)
    assert not big.ok and big.ad_updates() == []
    done = walk(tables(P | W | U | PS | A | D), CR3, 0x10, WRITE, ad=True)
    assert done.ok and done.ad_updates() == []
