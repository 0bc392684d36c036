"""The software page walker: what the IA32 MMU does for one access.

This is the only page-walk code in ia32k. The kernel's copy-in/copy-out,
its fault reports and the trace all call walk(); tests/test_walk_diff.py
checks it against the emulated CPU's own MMU, access by access, in both
paging modes. The mode (emu.x86.PagingMode) says how many levels there are,
how wide entries are and which bits are reserved; this code loops over the
levels and never asks which mode it is in.

What it models (SDM vol. 3, chapter 4):
- 32-bit paging: CR3 -> PDE -> PTE -> 4 KiB page, or a PDE with PS -> 4 MiB
  page when CR4.PSE is on (its bits 20..13 are physical bits 39..32, bit 21
  is reserved).
- PAE paging: CR3 -> PDPTE -> PDE -> PTE with 64-bit entries, or a PDE with
  PS -> 2 MiB page. A PDPTE carries no rights. Bit 63 is NX with EFER.NXE
  and a reserved bit (PF_RSVD) without it; bits at or above MAXPHYADDR are
  reserved. A PDPTE with bits the hardware rejects at CR3 load (emu.x86.
  PDPTE_MUST_BE_ZERO; Unicorn accepts them) ends the walk as "invalid
  PDPTE": the kernel must never write one.
- U/S and R/W combine across the PDE and the leaf (4.6): a user access
  needs U in both, a user write W in both, a supervisor write W in both only
  under CR0.WP. NX in either forbids fetches (CR4.SMEP/SMAP are off).
- The #PF error code has P, W, U and RSVD, and I/D (PF_I) on every fetch
  fault when the mode has NX on (4.7).
- Accessed/Dirty: the MMU sets A in a PDE that points to a page table as
  soon as it uses it (even if the PTE then faults), and A in the leaf (PTE
  or large PDE), plus D on a write, only when the access is allowed. It
  never writes a PAE PDPTE.
"""

from dataclasses import dataclass, field
from typing import Optional

from emu.x86 import (PAGE_SIZE, PDPTE_MUST_BE_ZERO, PF_I, PF_P,
                     PF_RSVD, PF_U, PF_W, PTE_A, PTE_D, PTE_P, PTE_PS, PTE_U,
                     PTE_W, pte_flags_str)

READ, WRITE, FETCH = "read", "write", "fetch"
ACCESSES = (READ, WRITE, FETCH)
ARROW = " → "


@dataclass
class Level:
    """One entry the walk read: its name, index, physical address and raw
    value; `after` is the value the MMU leaves there (walk(..., ad=True))."""
    name: str      # "PDPTE", "PDE" or "PTE"
    index: int
    addr: int
    value: int
    after: Optional[int] = None
    rights: bool = True     # its U/S and R/W take part (not a PAE PDPTE)

    @property
    def flags(self):
        return pte_flags_str(self.value, pte=self.name == "PTE")


@dataclass
class Walk:
    """The outcome of translating one linear address for one access."""
    va: int
    access: str
    user: bool
    cr3: int
    mode: object                    # the emu.x86.PagingMode walked
    levels: list = field(default_factory=list)
    pa: Optional[int] = None
    error_code: Optional[int] = None
    large: bool = False
    invalid_pdpte: bool = False     # hardware would #GP at the CR3 load

    @property
    def ok(self):
        return self.pa is not None

    @property
    def writable(self):
        """True when every level allowed writes (ignoring CR0.WP)."""
        return all(lv.value & PTE_W for lv in self.levels if lv.rights)

    @property
    def executable(self):
        """True when no level forbids fetches (never false without NX)."""
        return not any(lv.value & self.mode.nx for lv in self.levels)

    @property
    def reason(self):
        """Why the access faulted, in words; None when it did not."""
        if self.error_code is None:
            return None
        if self.invalid_pdpte:
            return "invalid PDPTE"
        if self.error_code & PF_RSVD:
            return "reserved bit"
        return "protection" if self.error_code & PF_P else "not present"

    def ad_updates(self):
        """(entry address, new value) for each entry the MMU would rewrite
        to set A or D; needs a walk made with ad=True."""
        return [(lv.addr, lv.after) for lv in self.levels
                if lv.after is not None and lv.after != lv.value]


def walk(read32, cr3, va, access=READ, user=True, wp=True, pse=True,
         ad=False, *, mode):
    """Translate va as the MMU would under paging mode `mode`; read32(pa)
    reads guest physical RAM (64-bit entries are read as two halves).

    Returns a Walk with pa set, or with error_code set to the #PF error code
    the CPU would raise. Nothing is written; with ad=True each level's
    `after` tells what the MMU would write back.
    """
    w = Walk(va, access, user, cr3, mode=mode)
    table = mode.top_table(cr3)
    last = len(mode.levels) - 1
    for level, name in enumerate(mode.levels):
        i = mode.index(level, va)
        e = _read(w, read32, level, i, table + mode.entry_size * i, ad)
        if not e & PTE_P:
            return _fault(w, 0)
        large = (level == mode.pde_level and level < last and pse
                 and bool(e & PTE_PS))
        if name == "PDPTE" and e & (PDPTE_MUST_BE_ZERO | mode.rsvd(level)):
            w.invalid_pdpte = True      # Unicorn: #PF RSVD, or nothing
            return _fault(w, PF_RSVD | PF_P)
        if e & mode.rsvd(level, large):
            return _fault(w, PF_RSVD | PF_P)
        if large:
            w.large = True
            return _leaf(w, mode.large_pa(e, va), wp)
        if level == last:
            return _leaf(w, (e & mode.addr_mask) | (va & (PAGE_SIZE - 1)), wp)
        if ad and w.levels[-1].rights:
            w.levels[-1].after = e | PTE_A     # used to find the next table
        table = e & mode.addr_mask
    raise AssertionError("walk: no leaf level")


def large_page_pa(pde, va, mode):
    """Physical address of va inside the large page a PS PDE maps."""
    return mode.large_pa(pde, va)


def _read(w, read32, level, index, addr, ad):
    """Read one entry and record it as the walk's next level."""
    value = read32(addr)
    if w.mode.entry_size == 8:
        value |= read32(addr + 4) << 32
    w.levels.append(Level(w.mode.levels[level], index, addr, value,
                          value if ad else None, w.mode.rights(level)))
    return value


def _leaf(w, pa, wp):
    """Check the rights combined over every level; on success set pa (and
    A/D in the leaf)."""
    write = w.access == WRITE
    both = -1
    for lv in w.levels:
        if lv.rights:
            both &= lv.value
    if _denied(both, write, w.user, wp) or \
            (w.access == FETCH and not w.executable):
        return _fault(w, PF_P)
    w.pa = pa
    last = w.levels[-1]
    if last.after is not None:
        last.after = last.value | PTE_A | (PTE_D if write else 0)
    return w


def _fault(w, bits):
    """End the walk with a #PF: bits (P, RSVD) plus W, U and, when the mode
    has NX on, I/D for a fetch."""
    w.error_code = (bits | (PF_W if w.access == WRITE else 0)
                    | (PF_U if w.user else 0)
                    | (PF_I if w.access == FETCH and w.mode.nx else 0))
    return w


def _denied(both, write, user, wp):
    """Apply U/S and R/W, already combined across both levels (SDM 4.6)."""
    if user:
        if not both & PTE_U:
            return True
        return write and not both & PTE_W
    return write and wp and not both & PTE_W


def error_text(err):
    """A #PF error code in words: "user, write, not present"."""
    cause = ("reserved bit" if err & PF_RSVD else
             "protection" if err & PF_P else "not present")
    kind = "fetch" if err & PF_I else "write" if err & PF_W else "read"
    return ", ".join(("user" if err & PF_U else "supervisor", kind, cause))


def format_walk(w):
    """'CR3=… → PDE[i]@addr=value(flags) → PTE[j]@… → PA 0x…', ending in
    "→ #PF 0x6 (user, write, not present)" when the access faults."""
    width = 2 + 2 * w.mode.entry_size
    parts = [f"CR3={w.cr3:#010x}"]
    parts += [f"{lv.name}[{lv.index}]@{lv.addr:#010x}={lv.value:#0{width}x}"
              f"({lv.flags})" for lv in w.levels]
    if w.invalid_pdpte:
        parts.append("invalid PDPTE (#GP at the CR3 load)")
    else:
        parts.append(f"PA {w.pa:#010x}" if w.ok else
                     f"#PF {w.error_code:#x} ({error_text(w.error_code)})")
    return ARROW.join(parts)
