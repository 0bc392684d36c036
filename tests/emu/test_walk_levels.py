"""emu.walk on hand-built tables, each outcome worked out from the SDM
(the differential test checks the same walker against the CPU)."""

import pytest

from emu import x86
from emu.x86 import PAGING_32
from emu.walk import FETCH, READ, WRITE, format_walk, large_page_pa, walk

P, W, U, A, D, PS = (x86.PTE_P, x86.PTE_W, x86.PTE_U, x86.PTE_A, x86.PTE_D,
                     x86.PTE_PS)
CR3, PT, FRAME = 0x1000, 0x2000, 0x9000


def tables(pde, pte=0, index=0):
    """A read32 over a dict: PDE 0 = pde; PTE[index] of the table = pte."""
    mem = {CR3: pde, PT + 4 * index: pte}
    return lambda pa: mem.get(pa, 0)


def test_4k_page_translates_offset_and_records_both_levels():
    w = walk(tables(PT | P | W | U, FRAME | P | W | U, 5), CR3, 0x5ABC,
             mode=PAGING_32)
    assert w.ok and w.pa == FRAME | 0xABC and not w.large
    assert [(lv.name, lv.index, lv.addr) for lv in w.levels] == \
        [("PDE", 0, CR3), ("PTE", 5, PT + 20)]
    assert w.levels[1].flags == "P W U"


def test_not_present_pde_and_pte():
    assert walk(tables(0), CR3, 0x10, WRITE,
                mode=PAGING_32).error_code == x86.PF_W | x86.PF_U
    w = walk(tables(PT | P | W | U, FRAME), CR3, 0x10, READ, user=False,
             mode=PAGING_32)
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
    w = walk(read32, CR3, 0x123, access, user, wp, mode=PAGING_32)
    assert w.error_code == error
    assert w.ok == (error is None)


def test_fetch_fault_has_no_id_bit():
    w = walk(tables(0), CR3, 0x400000, FETCH, mode=PAGING_32)
    assert w.error_code == x86.PF_U and not w.error_code & x86.PF_I


def test_4mib_page_and_pse_36_bits():
    pde = 0x00C00000 | P | W | U | PS
    w = walk(tables(pde), CR3, 0x3ABCDE, mode=PAGING_32)
    assert w.large and w.pa == 0x00C00000 | 0x3ABCDE and len(w.levels) == 1
    high = pde | (0x3 << 13)                   # physical bits 33..32
    assert large_page_pa(high, 0x10, PAGING_32) == 0x3_00C00010


def test_4mib_reserved_bit_faults_before_rights():
    pde = 0x00C00000 | P | PS | x86.PDE_LARGE_RSVD     # supervisor, too
    w = walk(tables(pde), CR3, 0x10, WRITE, user=True, mode=PAGING_32)
    assert w.error_code == x86.PF_RSVD | x86.PF_P | x86.PF_W | x86.PF_U
    assert w.reason == "reserved bit"


def test_ps_ignored_without_pse():
    pde = PT | P | W | U | PS
    w = walk(tables(pde, FRAME | P | U), CR3, 0x10, pse=False, mode=PAGING_32)
    assert not w.large and w.pa == FRAME | 0x10


def test_accessed_dirty_prediction():
    read32 = tables(PT | P | W | U, FRAME | P | W | U)
    w = walk(read32, CR3, 0x10, WRITE, ad=True, mode=PAGING_32)
    assert w.ad_updates() == [(CR3, PT | P | W | U | A),
                              (PT, FRAME | P | W | U | A | D)]
    r = walk(read32, CR3, 0x10, READ, ad=True, mode=PAGING_32)
    assert r.levels[1].after == FRAME | P | W | U | A
    assert walk(read32, CR3, 0x10,
                mode=PAGING_32).levels[0].after is None   # ad off


def test_faulting_walk_sets_a_only_in_the_pde_it_used():
    read32 = tables(PT | P | U, FRAME | P | U)
    w = walk(read32, CR3, 0x10, WRITE, ad=True, mode=PAGING_32)
    assert not w.ok
    assert w.ad_updates() == [(CR3, PT | P | U | A)]
    big = walk(tables(P | U | PS), CR3, 0x10, WRITE, ad=True, mode=PAGING_32)
    assert not big.ok and big.ad_updates() == []
    done = walk(tables(P | W | U | PS | A | D), CR3, 0x10, WRITE, ad=True,
                mode=PAGING_32)
    assert done.ok and done.ad_updates() == []


PAE = x86.PAGING_PAE
PDPT, PD = 0x3000, 0x4000


def pae_tables(pdpte, pde, pte=0):
    """A read32 over 64-bit entries: PDPTE 1 = pdpte, its PDE 2 = pde, PTE 3
    of PT = pte (VA 0x40403000 walks exactly these)."""
    mem = {}
    for addr, v in ((PDPT + 8, pdpte), (PD + 16, pde), (PT + 24, pte)):
        mem[addr], mem[addr + 4] = v & 0xFFFFFFFF, v >> 32
    return lambda pa: mem.get(pa, 0)


def test_pae_walk_has_three_levels_and_wide_entries():
    r = pae_tables(PD | P, PT | P | W | U, FRAME | P | W | U | x86.PTE_NX)
    w = walk(r, PDPT, 0x40403ABC, READ, mode=PAE)
    assert w.ok and w.pa == FRAME | 0xABC
    assert [(lv.name, lv.index) for lv in w.levels] == \
        [("PDPTE", 1), ("PDE", 2), ("PTE", 3)]
    assert w.levels[2].flags == "P W U NX" and not w.executable
    assert "PDPTE[1]" in format_walk(w) and "0x8000000000009007" in \
        format_walk(w)
    assert PAE.va_split(0x40403ABC) == (1, 2, 3, 0xABC)
    assert x86.PAGING_32.va_split(0x40403ABC) == (0x101, 3, 0xABC)


def test_pae_fetch_from_nx_faults_with_i_and_without_nxe_is_reserved():
    r = pae_tables(PD | P, PT | P | W | U | x86.PTE_NX, FRAME | P | W | U)
    w = walk(r, PDPT, 0x40403000, FETCH, mode=PAE)
    assert w.error_code == x86.PF_P | x86.PF_U | x86.PF_I
    assert walk(r, PDPT, 0x40403000, READ, mode=PAE).ok
    w = walk(r, PDPT, 0x40403000, READ, mode=PAE.without_nx())
    assert w.error_code == x86.PF_P | x86.PF_U | x86.PF_RSVD
    w = walk(pae_tables(PD | P, 0), PDPT, 0x40403000, FETCH, mode=PAE)
    assert w.error_code == x86.PF_U | x86.PF_I        # I even not present


def test_pae_2mib_page_and_its_reserved_bits():
    big = 0x00600000
    w = walk(pae_tables(PD | P, big | P | U | PS), PDPT, 0x40512345,
             mode=PAE)
    assert w.large and w.pa == big + 0x112345 and len(w.levels) == 2
    w = walk(pae_tables(PD | P, big | P | U | PS | 0x2000), PDPT,
             0x40412345, mode=PAE)
    assert w.error_code & x86.PF_RSVD


@pytest.mark.parametrize("bad", [x86.PTE_W, x86.PTE_U, x86.PTE_A, 1 << 63,
                                 1 << 45])
def test_pdpte_with_bits_hardware_rejects_is_invalid(bad):
    """Unicorn accepts R/W or U/S in a PDPTE (docs/unicorn.md); hardware #GPs
    at the CR3 load. The walker says so rather than translating."""
    r = pae_tables(PD | P | bad, PT | P | W | U, FRAME | P | W | U)
    w = walk(r, PDPT, 0x40403000, mode=PAE)
    assert not w.ok and w.invalid_pdpte and w.reason == "invalid PDPTE"
    assert "invalid PDPTE" in format_walk(w)


def test_pae_pdpte_carries_no_rights_and_gets_no_accessed_bit():
    r = pae_tables(PD | P, PT | P | W | U, FRAME | P | W | U)
    w = walk(r, PDPT, 0x40403000, WRITE, ad=True, mode=PAE)
    assert w.ok and w.writable
    assert [a for a, _ in w.ad_updates()] == [PD + 16, PT + 24]
