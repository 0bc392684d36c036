"""The software walker against the emulated CPU's own MMU, PAE paging.

As tests/test_walk_diff.py, with three levels of 64-bit entries: random
PDPTEs (absent, present, with reserved high bits), page directories with
page tables or 2 MiB pages, every low flag bit random, NX random in every
entry, reserved bits (40..62, a large PDE's 13..20) now and then, and
EFER.NXE on or off. The walker must predict the physical address or the #PF
(CR2 and error code, I/D included) and the Accessed/Dirty bits the CPU
writes, and the access path (kernel.mm.access) must agree with the CPU
for every CPL 3 access under CR0.WP. PDPTEs with bits the hardware rejects at the CR3 load (Unicorn
accepts them) are the walker's own business: tests/test_walk_levels.py.
"""

import struct

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emu import x86
from emu.probe import FETCH_STUB_LEN, UNPROBED_FETCH, MMUProbe, fetch_stub
from emu.walk import ACCESSES, FETCH, READ, WRITE, format_walk, walk
from kernel.boot import prepare_machine
from kernel.memlayout import KERNBASE, SCRATCH_PA
from tests.emu.test_walk_diff import (MARKER, Landing, access_disagreement,
                                      low_bits, mostly)

PAE = x86.PAGING_PAE
MEMORY = 16 << 20
PDPT = 0x20000
LOW_PD = 0x25000                       # PDPTE 0's directory (probe code)
PD_POOL = (0x26000, 0x27000)
PT_POOL = (0x21000, 0x22000, 0x23000, 0x24000)
PROBE_FRAMES = (0x30000, 0x31000, 0x32000, 0x33000)
DATA_POOL = tuple(0x100000 + 0x1000 * i for i in range(16))
LARGE_POOL = (0x400000, 0x600000, 0xA00000)
TABLES = (PDPT, LOW_PD) + PD_POOL + PT_POOL
EXAMPLES = 3000


@pytest.fixture(scope="module")
def probe():
    hw, pdes, _ = prepare_machine(MEMORY)
    return MMUProbe(hw, KERNBASE, pdes, SCRATCH_PA, PROBE_FRAMES)


def high_bits(draw, nx_odds=2):
    """Bits 32..63 of an entry: NX one time in nx_odds, and now and then a
    reserved bit (bits MAXPHYADDR..62)."""
    high = x86.PTE_NX if draw(st.integers(0, nx_odds - 1)) == 0 else 0
    if draw(st.integers(0, 11)) == 0:
        high |= 1 << draw(st.integers(x86.PHYS_BITS, 62))
    return high     # (physical bits 32..39 would name no RAM here)


@st.composite
def page_tables(draw, probe):
    """{entry address: 64-bit value} for the PDPT, directories and tables,
    and the PDPTE and PDE indexes the case may address."""
    kernel_pdpte, code_pdx = probe.reserved_pae()
    ents, usable = {}, {0: [i for i in range(512) if i not in code_pdx]}
    pds = {0: LOW_PD}
    for k in (1, 2):
        kind = draw(st.sampled_from(("present", "present", "rsvd", "absent")))
        pd = pds[k] = draw(st.sampled_from(PD_POOL))
        if kind == "absent":
            ents[PDPT + 8 * k] = draw(st.integers(0, (1 << 64) - 1)) & ~1
        else:
            low = draw(st.sampled_from((0, x86.PTE_PWT, x86.PTE_PCD, 0xE00)))
            rsvd = (1 << draw(st.integers(x86.PHYS_BITS, 63))
                    if kind == "rsvd" else 0)
            ents[PDPT + 8 * k] = pd | low | x86.PTE_P | rsvd
        usable[k] = range(512)
    for k in draw(st.sets(st.sampled_from((0, 1, 2)), min_size=1)):
        for i in draw(st.sets(st.sampled_from(usable[k]), min_size=1,
                              max_size=2)):
            ents[pds[k] + 8 * i] = draw(pde_value())
    return ents, pds, usable


@st.composite
def pde_value(draw):
    """A PDE naming a page table (with a few PTEs drawn later), a 2 MiB
    page, or nothing."""
    kind = draw(st.sampled_from(("table", "table", "large", "absent")))
    if kind == "table":
        return (draw(st.sampled_from(PT_POOL)) | (low_bits(draw) & ~x86.PTE_PS)
                | high_bits(draw, 4))
    if kind == "large":
        rsvd = 0 if mostly(draw) else 1 << draw(st.integers(13, 20))
        return (draw(st.sampled_from(LARGE_POOL)) | low_bits(draw) | rsvd
                | x86.PTE_PS | high_bits(draw))
    return draw(st.integers(0, (1 << 64) - 1)) & ~x86.PTE_P


@st.composite
def cases(draw, probe):
    """A table set and one access: address, kind, CPL, CR0.WP, EFER.NXE."""
    ents, pds, usable = draw(page_tables(probe))
    k = draw(st.sampled_from((0, 1, 2)))
    pd = pds[k]
    mine = [i for i in usable[k] if pd + 8 * i in ents]
    i = draw(st.sampled_from(mine) if mine and mostly(draw)
             else st.sampled_from(list(usable[k])))
    pde = ents.get(pd + 8 * i, 0)
    pt = pde & 0xFF000
    if pde & x86.PTE_P and not pde & x86.PTE_PS and pt in PT_POOL:
        for j in draw(st.lists(st.integers(0, 511), min_size=1, max_size=3)):
            ents[pt + 8 * j] = (draw(st.sampled_from(DATA_POOL))
                                | low_bits(draw) | high_bits(draw))
    j = draw(st.integers(0, 511))
    access = draw(st.sampled_from(ACCESSES))
    span = FETCH_STUB_LEN if access == FETCH else 4
    off = draw(st.integers(0, x86.PAGE_SIZE - span))
    va = (k << 30) | (i << 21) | (j << 12) | off
    assume(not (access == FETCH and va == UNPROBED_FETCH))
    mode = PAE if draw(st.integers(0, 3)) else PAE.without_nx()
    return dict(ents=ents, va=va, access=access, user=draw(st.booleans()),
                wp=draw(st.booleans()), mode=mode)


def build(probe, c):
    """Write the case's entries into RAM (the probe's own first)."""
    hw = probe.hw
    probe.install_pae(PDPT, LOW_PD)
    for f in PD_POOL + PT_POOL:
        hw.zero(f, x86.PAGE_SIZE)
    for addr, v in sorted(c["ents"].items()):
        hw.write(addr, struct.pack("<Q", v))


LANDING = Landing(DATA_POOL, LARGE_POOL, PAE.large_size)


def snapshot(hw):
    return {f: hw.read(f, x86.PAGE_SIZE) for f in TABLES}


def table_diff(before, w, got):
    """Entries where the walker's A/D prediction and the CPU differ."""
    want = {f: bytearray(b) for f, b in before.items()}
    for addr, value in w.ad_updates():
        f = addr & ~0xFFF
        want[f][addr - f:addr - f + 8] = struct.pack("<Q", value)
    out = []
    for f in TABLES:
        for o in range(0, x86.PAGE_SIZE, 8):
            a, = struct.unpack_from("<Q", want[f], o)
            b, = struct.unpack_from("<Q", got[f], o)
            if a != b:
                out.append(f"entry @{f + o:#x}: walker {a:#018x}, cpu {b:#018x}")
    return out


def check(probe, c):
    """Run one case on both sides; return the disagreements, if any."""
    hw, mode = probe.hw, c["mode"]
    build(probe, c)
    LANDING.plant(hw, c["access"], c["va"])
    before = snapshot(hw)
    w = walk(hw.read32, PDPT, c["va"], c["access"], c["user"], c["wp"],
             ad=True, mode=mode)
    out = probe.run(PDPT, c["va"], c["access"], c["user"], c["wp"], MARKER,
                    mode=mode)
    got = LANDING.disagreements(hw, c["access"], c["va"], w, out)
    got += access_disagreement(LANDING, hw, PDPT, mode, c, out)
    got += table_diff(before, w, snapshot(hw))
    if not got:
        return None
    return (f"CPL {3 if c['user'] else 0} wp={c['wp']} mode={mode.name}\n"
            f"walker: {format_walk(w)}\n" + "\n".join(got))


@settings(max_examples=EXAMPLES, derandomize=True, database=None,
          deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_walker_agrees_with_the_cpu_mmu_under_pae(probe, data):
    c = data.draw(cases(probe))
    problem = check(probe, c)
    assert problem is None, problem


def fixed(probe, pdes, ptes, va, access, user, mode=PAE):
    """One hand-made case: PDEs under PDPTE 1, PTEs in PT_POOL[0]."""
    ents = {PDPT + 8: PD_POOL[0] | x86.PTE_P}
    ents.update({PD_POOL[0] + 8 * i: v for i, v in pdes.items()})
    ents.update({PT_POOL[0] + 8 * j: v for j, v in ptes.items()})
    c = dict(ents=ents, va=va, access=access, user=user, wp=True, mode=mode)
    assert check(probe, c) is None
    return walk(probe.hw.read32, PDPT, va, access, user, mode=mode)


@pytest.mark.parametrize("user", (True, False))
def test_nx_faults_fetches_only_and_reports_i(probe, user):
    """A no-execute page reads but does not run (error code with I/D); a
    2 MiB page maps; without NXE the same NX bit is a reserved bit."""
    P, W, U, PS, NX = (x86.PTE_P, x86.PTE_W, x86.PTE_U, x86.PTE_PS,
                       x86.PTE_NX)
    pdes = {0: PT_POOL[0] | P | W | U, 1: LARGE_POOL[1] | P | W | U | PS | NX}
    ptes = {1: DATA_POOL[0] | P | W | U | NX, 2: DATA_POOL[1] | P | W | U}
    base = 1 << 30
    u = x86.PF_U if user else 0
    w = fixed(probe, pdes, ptes, base + 0x1010, FETCH, user)
    assert w.error_code == x86.PF_P | x86.PF_I | u
    assert fixed(probe, pdes, ptes, base + 0x1010, READ, user).ok
    assert fixed(probe, pdes, ptes, base + 0x2010, FETCH, user).ok
    big = fixed(probe, pdes, ptes, base + 0x200010, READ, user)
    assert big.large and big.pa == LARGE_POOL[1] + 0x10
    w = fixed(probe, pdes, ptes, base + 0x200010, FETCH, user)
    assert w.error_code & x86.PF_I
    w = fixed(probe, pdes, ptes, base + 0x1010, READ, user, PAE.without_nx())
    assert w.error_code == x86.PF_P | x86.PF_RSVD | u
    w = fixed(probe, pdes, ptes, base + 0x3010, FETCH, user)
    assert w.error_code == x86.PF_I | u                 # not present, fetch
