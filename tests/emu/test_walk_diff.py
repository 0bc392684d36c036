"""The software walker against the emulated CPU's own MMU.

Hypothesis builds random page directories and tables (4 KiB and 4 MiB
pages, every flag bit random, reserved bits, shared tables) in a machine's
RAM; emu.probe performs one real read, write or fetch at CPL 3 or CPL 0
with CR0.WP on or off. The walker must predict the physical address (found
through values planted at every frame the access could reach) or the #PF
with its CR2 and error code, and the Accessed/Dirty bits the CPU writes.
The access path (kernel.mm.access) must land where the CPU did, or fault
with its error code, for every CPL 3 access under CR0.WP.
"""

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emu import x86
from emu.x86 import Vector
from emu.probe import FETCH_STUB_LEN, UNPROBED_FETCH, MMUProbe, fetch_stub
from emu.walk import ACCESSES, FETCH, READ, WRITE, format_walk, walk
from kernel.boot import prepare_machine
from kernel.mm.access import Agent, Intent, access
from kernel.mm.vm import UserFault
from kernel.memlayout import KERNBASE, SCRATCH_PA

MEMORY = 16 << 20
PD = 0x20000
PT_POOL = (0x21000, 0x22000, 0x23000, 0x24000)
PROBE_FRAMES = (0x30000, 0x31000, 0x32000, 0x33000)
DATA_POOL = tuple(0x100000 + 0x1000 * i for i in range(16))
LARGE_POOL = (0x400000, 0x800000, 0xC00000)
PDX_CHOICES = (0, 2, 3, 255, 256, 511, 767)    # not the probe's own
MARKER = 0xA5C30F1E
EXAMPLES = 3000


@pytest.fixture(scope="module")
def probe():
    hw, pdes, _ = prepare_machine(MEMORY)
    return MMUProbe(hw, KERNBASE, pdes, SCRATCH_PA, PROBE_FRAMES)


def test_probe_pdes_are_not_tested(probe):
    assert not probe.reserved_pdx & set(PDX_CHOICES)


def mostly(draw):
    """True seven times in eight."""
    return draw(st.integers(0, 7)) != 0


def low_bits(draw):
    """Random flag bits (P, R/W, U/S, PWT, PCD, A, D, PS/PAT, G, AVL); P,
    R/W and U/S mostly set, so that user writes succeed often enough."""
    low = draw(st.integers(0, 0xFFF))
    for bit, odds in ((x86.PTE_P, 7), (x86.PTE_W, 3), (x86.PTE_U, 7)):
        low = low | bit if draw(st.integers(0, odds)) else low & ~bit
    return low


@st.composite
def page_tables(draw):
    """{pdx: PDE} and {page table pa: {ptx: PTE}}, every low bit random."""
    pdes, tables = {}, {}
    for i in draw(st.sets(st.sampled_from(PDX_CHOICES), min_size=1,
                          max_size=3)):
        kind = draw(st.sampled_from(("table", "table", "large", "absent")))
        if kind == "table":
            pt = draw(st.sampled_from(PT_POOL))
            pdes[i] = pt | (low_bits(draw) & ~x86.PTE_PS)
            ents = tables.setdefault(pt, {})
            for j in draw(st.lists(st.integers(0, 1023), min_size=1,
                                   max_size=3)):
                ents[j] = draw(st.sampled_from(DATA_POOL)) | low_bits(draw)
        elif kind == "large":
            rsvd = 0 if mostly(draw) else x86.PDE_LARGE_RSVD
            pdes[i] = (draw(st.sampled_from(LARGE_POOL)) | low_bits(draw)
                       | x86.PTE_PS | rsvd)
        else:
            pdes[i] = draw(st.integers(0, 0xFFFFFFFF)) & ~x86.PTE_P
    return pdes, tables


@st.composite
def cases(draw):
    """A page-table set and one access: address, kind, CPL, CR0.WP."""
    pdes, tables = draw(page_tables())
    i = draw(st.sampled_from(sorted(pdes)))
    ents = tables.get(pdes[i] & x86.PTE_ADDR, {})
    j = draw(st.sampled_from(sorted(ents)) if ents and mostly(draw)
             else st.integers(0, 1023))
    access = draw(st.sampled_from(ACCESSES))
    span = FETCH_STUB_LEN if access == FETCH else 4
    off = draw(st.integers(0, x86.PAGE_SIZE - span))
    assume(not (access == FETCH and x86.pgaddr(i, j, off) == UNPROBED_FETCH))
    return dict(pdes=pdes, tables=tables, va=x86.pgaddr(i, j, off),
                access=access, user=draw(st.booleans()),
                wp=draw(st.booleans()))


def build(probe, c):
    """Write the case's tables into RAM; return the frames to compare."""
    hw = probe.hw
    probe.install(PD)
    for pt in PT_POOL:
        hw.zero(pt, x86.PAGE_SIZE)
    for pt, ents in c["tables"].items():
        for j, v in ents.items():
            hw.write32(pt + 4 * j, v)
    for i, v in c["pdes"].items():
        hw.write32(PD + 4 * i, v)
    return (PD,) + PT_POOL


@dataclass(frozen=True)
class Landing:
    """Where an access may land in a differential test (the data frames,
    the large pages and the mode's large-page size), and how the test
    learns where the CPU's access did land."""
    data: tuple
    large: tuple
    large_size: int

    def candidates(self, va):
        """Every physical address the access could reach in this test."""
        return ([f + (va & 0xFFF) for f in self.data]
                + [r + (va & (self.large_size - 1)) for r in self.large])

    def plant(self, hw, access, va):
        """Make each candidate tell where it is: its own address for a
        read, a stub loading it for a fetch, zero for a write to land on."""
        for pa in self.candidates(va):
            if access == READ:
                hw.write32(pa, pa)
            elif access == FETCH:
                hw.write(pa, fetch_stub(pa))
            else:
                hw.write32(pa, 0)

    def observed_pa(self, hw, access, va, out):
        """Where the CPU's access landed, from what it loaded or stored."""
        if access != WRITE:
            return out.eax
        hits = [pa for pa in self.candidates(va) if hw.read32(pa) == MARKER]
        return hits[0] if len(hits) == 1 else ("stored at", hits)

    def disagreements(self, hw, access, va, w, out):
        """Where the CPU's outcome (out, from the probe) differs from the
        walker's prediction w: a list of texts, empty when they agree."""
        got = [] if out.vector in (Vector.SYSCALL, Vector.PAGE_FAULT) else \
            [f"cpu raised vector {out.vector}"]
        if w.ok and not out.ok:
            got.append(f"cpu faulted: cr2={out.cr2:#x} "
                       f"error={out.error_code:#x}")
        elif w.ok and self.observed_pa(hw, access, va, out) != w.pa:
            got.append(f"cpu reached {self.observed_pa(hw, access, va, out)}")
        elif not w.ok and (out.vector, out.cr2, out.error_code) != \
                (Vector.PAGE_FAULT, va, w.error_code):
            got.append(f"cpu: vector {out.vector} cr2={out.cr2} "
                       f"error={out.error_code} eax={out.eax:#x}")
        return got


LANDING = Landing(DATA_POOL, LARGE_POOL, x86.LARGE_PAGE_SIZE)


class RawSpace:
    """Page tables in RAM as an address space for kernel.mm.access: its
    observer agent resolves nothing, so a walk is all it asks for."""

    def __init__(self, hw, cr3, mode):
        self.hw, self.cr3, self.mode = hw, cr3, mode

    def walk(self, va, access=READ, user=True):
        return walk(self.hw.read32, self.cr3, va, access, user,
                    mode=self.mode)


def access_disagreement(landing, hw, cr3, mode, c, out):
    """The access path (kernel.mm.access, observer agent) against the CPU's
    outcome out for the same case, when the CPU's access is the one it
    models (CPL 3, CR0.WP on); [] when they agree."""
    if not (c["user"] and c["wp"]) or \
            out.vector not in (Vector.SYSCALL, Vector.PAGE_FAULT):
        return []
    va, kind = c["va"], c["access"]
    try:
        (pa, _), = access(RawSpace(hw, cr3, mode), va, 1, Intent.of(kind),
                          Agent.OBSERVER)
    except UserFault as e:
        if out.ok or e.walk is None or e.walk.error_code != out.error_code:
            return [f"access path faulted ({e.walk and e.walk.error_code}),"
                    f" cpu: vector {out.vector} error {out.error_code}"]
        return []
    if not out.ok or landing.observed_pa(hw, kind, va, out) != pa:
        return [f"access path reached {pa:#x}, cpu: vector {out.vector}"]
    return []


def snapshot(hw, frames):
    return {f: hw.read(f, x86.PAGE_SIZE) for f in frames}


def expected_tables(before, w):
    """The table frames as the walker says the MMU leaves them."""
    after = {f: bytearray(b) for f, b in before.items()}
    for addr, value in w.ad_updates():
        frame = addr & x86.PTE_ADDR
        after[frame][addr - frame:addr - frame + 4] = value.to_bytes(4, "little")
    return {f: bytes(b) for f, b in after.items()}


def table_diff(want, got):
    """Entries where the walker's and the CPU's tables differ."""
    out = []
    for f in want:
        for o in range(0, x86.PAGE_SIZE, 4):
            a = int.from_bytes(want[f][o:o + 4], "little")
            b = int.from_bytes(got[f][o:o + 4], "little")
            if a != b:
                out.append(f"entry @{f + o:#x}: walker {a:#010x} "
                           f"({x86.pte_flags_str(a)}), cpu {b:#010x} "
                           f"({x86.pte_flags_str(b)})")
    return out


def check(probe, c):
    """Run one case on both sides; return the disagreements, if any."""
    hw = probe.hw
    frames = build(probe, c)
    LANDING.plant(hw, c["access"], c["va"])
    before = snapshot(hw, frames)
    w = walk(hw.read32, PD, c["va"], c["access"], c["user"], c["wp"],
             ad=True, mode=x86.PAGING_32)
    out = probe.run(PD, c["va"], c["access"], c["user"], c["wp"], MARKER,
                    mode=x86.PAGING_32)
    got = LANDING.disagreements(hw, c["access"], c["va"], w, out)
    got += access_disagreement(LANDING, hw, PD, x86.PAGING_32, c, out)
    got += table_diff(expected_tables(before, w), snapshot(hw, frames))
    if not got:
        return None
    cpl = 3 if c["user"] else 0
    return (f"CPL {cpl} wp={c['wp']}\nwalker: {format_walk(w)}\n"
            + "\n".join(got))


@settings(max_examples=EXAMPLES, derandomize=True, database=None,
          deadline=None, suppress_health_check=list(HealthCheck))
@given(c=cases())
def test_walker_agrees_with_the_cpu_mmu(probe, c):
    problem = check(probe, c)
    assert problem is None, problem


@pytest.mark.parametrize("access", ACCESSES)
@pytest.mark.parametrize("user", (True, False))
def test_fixed_cases_fault_and_succeed(probe, access, user):
    """A known set: user-writable page, read-only page, supervisor page,
    absent PTE, 4 MiB page, reserved bit; each agrees, and the kinds of
    outcome the random test relies on really occur."""
    pt, data, big = PT_POOL[0], DATA_POOL[3], LARGE_POOL[1]
    P, W, U, PS = x86.PTE_P, x86.PTE_W, x86.PTE_U, x86.PTE_PS
    tables = {pt: {1: data | P | W | U, 2: data | P | U, 3: data | P | W, 4: 0}}
    pdes = {0: pt | P | W | U, 2: big | P | W | U | PS,
            3: big | P | U | PS | x86.PDE_LARGE_RSVD}
    seen = set()
    for va in (0x1010, 0x2020, 0x3030, 0x4040, 0x812344, 0xC00010):
        c = dict(pdes=pdes, tables=tables, va=va, access=access, user=user,
                 wp=True)
        assert check(probe, c) is None
        seen.add(walk(probe.hw.read32, PD, va, access, user,
                      mode=x86.PAGING_32).reason)
    assert {None, "not present", "reserved bit"} <= seen
    assert ("protection" in seen) == (user or access == WRITE)
