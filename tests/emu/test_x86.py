"""emu/x86.py: linear-address split, descriptor encoding, #PF error codes."""

import struct

import pytest

from emu import x86


@pytest.mark.parametrize("va, d, t", [
    (0x00000000, 0, 0), (0x00400000, 1, 0), (0x00401FFF, 1, 1),
    (0xBFFFF000, 767, 1023), (0xC0000000, 768, 0), (0xFFFFFFFF, 1023, 1023),
    (0x12345678, 0x48, 0x345),
])
def test_pdx_ptx_split_10_10_12(va, d, t):
    assert (x86.pdx(va), x86.ptx(va)) == (d, t)
    assert x86.pgaddr(d, t, va & 0xFFF) == va


def test_page_rounding():
    assert x86.pgrounddown(0x1FFF) == 0x1000
    assert x86.pgroundup(0x1001) == 0x2000
    assert x86.pgroundup(0x2000) == 0x2000
    assert x86.pgrounddown(0) == 0


def test_selector_index_and_rpl():
    assert x86.selector(x86.SEG_KCODE) == 0x08
    assert x86.selector(x86.SEG_UCODE, 3) == 0x1B
    assert x86.selector(x86.SEG_UDATA, 3) == 0x23


def _decode(desc):
    """Split a descriptor back into base, limit, access byte, flags nibble."""
    lo, hi = struct.unpack("<II", struct.pack("<Q", desc))
    base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000)
    limit = (lo & 0xFFFF) | (hi & 0x000F0000)
    return base, limit, (hi >> 8) & 0xFF, (hi >> 20) & 0xF


def test_gdt_entry_round_trips_every_field():
    d = x86.gdt_entry(0x12345678, 0xABCDE, 0x9A, 0xC)
    assert _decode(d) == (0x12345678, 0xABCDE, 0x9A, 0xC)


@pytest.mark.parametrize("dpl, code, access", [
    (0, True, 0x9B), (0, False, 0x93), (3, True, 0xFB), (3, False, 0xF3)])
def test_flat_segments_match_the_sdm(dpl, code, access):
    # Present, DPL, S=1, type execute/read or read/write, accessed preset
    # (the GDT is read-only); G=1, D/B=1.
    assert _decode(x86.flat_segment(dpl, code)) == (0, 0xFFFFF, access, 0xC)


def test_known_flat_descriptor_values():
    # Every x86 tutorial's flat ring-0 code and data, plus the accessed bit.
    assert x86.flat_segment(0, code=True) == 0x00CF9A000000FFFF | 1 << 40
    assert x86.flat_segment(0, code=False) == 0x00CF92000000FFFF | 1 << 40


@pytest.mark.parametrize("present, write, user, fetch, code", [
    (False, False, False, False, 0x0),
    (True, False, False, False, 0x1),
    (False, True, False, False, 0x2),
    (False, False, True, False, 0x4),
    (False, True, True, False, 0x6),
    (True, True, True, False, 0x7),
    (False, False, True, True, 0x14),
    (True, False, True, True, 0x15),
])
def test_pf_error_code_bits(present, write, user, fetch, code):
    assert x86.pf_error_code(present, write, user, fetch) == code


def test_pte_flags_str():
    assert x86.pte_flags_str(0x67) == "P W U A D"
    assert x86.pte_flags_str(0x83) == "P W PS"
    assert x86.pte_flags_str(0) == "-"
