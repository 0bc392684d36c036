"""The software page walker: what the IA32 MMU does for one access.

This is the only page-walk code in ia32k. The kernel's copy-in/copy-out,
its fault reports and the trace all call walk(); tests/test_walk_diff.py
checks it against the emulated CPU's own MMU, access by access.

What it models (32-bit paging, SDM vol. 3, chapter 4):
- CR3 -> PDE -> PTE -> 4 KiB page, or CR3 -> PDE with PS -> 4 MiB page when
  CR4.PSE is on. A 4 MiB PDE's bits 20..13 are physical bits 39..32
  (PSE-36); its bit 21 is reserved and faults with PF_RSVD.
- U/S and R/W combine across both levels (4.6): a user access needs U in
  both, a user write W in both, a supervisor write W in both only under
  CR0.WP. Reads and fetches are otherwise allowed: 32-bit paging has no NX,
  and CR4.SMEP/SMAP are off.
- The #PF error code has P, W, U and RSVD, never I/D: 32-bit paging
  without SMEP reports a fetch like a read (4.7).
- Accessed/Dirty: the MMU sets A in a PDE that points to a page table as
  soon as it uses it (even if the PTE then faults), and A in the leaf (PTE
  or 4 MiB PDE), plus D on a write, only when the access is allowed.
"""

from dataclasses import dataclass, field
from typing import Optional

from emu.x86 import (LARGE_PAGE_SIZE, PAGE_SIZE, PDE_LARGE_ADDR,
                     PDE_LARGE_HIGH, PDE_LARGE_RSVD, PF_P, PF_RSVD, PF_U,
                     PF_W, PTE_A, PTE_ADDR, PTE_D, PTE_P, PTE_PS, PTE_U,
                     PTE_W, pdx, pte_flags_str, ptx)

READ, WRITE, FETCH = "read", "write", "fetch"
ACCESSES = (READ, WRITE, FETCH)
ARROW = " → "


@dataclass
class Level:
    """One entry the walk read: its name, index, physical address and raw
    value; `after` is the value the MMU leaves there (walk(..., ad=True))."""
    name: str      # "PDE" or "PTE"
    index: int
    addr: int
    value: int
    after: Optional[int] = None

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
    levels: list = field(default_factory=list)
    pa: Optional[int] = None
    error_code: Optional[int] = None
    large: bool = False

    @property
    def ok(self):
        return self.pa is not None

    @property
    def writable(self):
        """True when every level allowed writes (ignoring CR0.WP)."""
        return all(lv.value & PTE_W for lv in self.levels)

    @property
    def reason(self):
        """Why the access faulted, in words; None when it did not."""
        if self.error_code is None:
            return None
        if self.error_code & PF_RSVD:
            return "reserved bit"
        return "protection" if self.error_code & PF_P else "not present"

    def ad_updates(self):
        """(entry address, new value) for each entry the MMU would rewrite
        to set A or D; needs a walk made with ad=True."""
        return [(lv.addr, lv.after) for lv in self.levels
                if lv.after is not None and lv.after != lv.value]


def walk(read32, cr3, va, access=READ, user=True, wp=True, pse=True,
         ad=False):
    """Translate va as the MMU would; read32(pa) reads guest physical RAM.

    Returns a Walk with pa set, or with error_code set to the #PF error code
    the CPU would raise. Nothing is written; with ad=True each level's
    `after` tells what the MMU would write back.
    """
    w = Walk(va, access, user, cr3)
    pde = _read(w, read32, "PDE", pdx(va), (cr3 & PTE_ADDR) + 4 * pdx(va), ad)
    if not pde & PTE_P:
        return _fault(w, 0)
    if pse and pde & PTE_PS:
        w.large = True
        if pde & PDE_LARGE_RSVD:
            return _fault(w, PF_RSVD | PF_P)
        return _leaf(w, pde, pde, large_page_pa(pde, va), wp)
    if ad:
        w.levels[0].after = pde | PTE_A     # used to find the PTE
    pte = _read(w, read32, "PTE", ptx(va), (pde & PTE_ADDR) + 4 * ptx(va), ad)
    if not pte & PTE_P:
        return _fault(w, 0)
    return _leaf(w, pde, pte, (pte & PTE_ADDR) | (va & (PAGE_SIZE - 1)), wp)


def large_page_pa(pde, va):
    """Physical address of va inside the 4 MiB page a PS PDE maps."""
    return (((pde & PDE_LARGE_HIGH) << 19) | (pde & PDE_LARGE_ADDR)
            | (va & (LARGE_PAGE_SIZE - 1)))


def _read(w, read32, name, index, addr, ad):
    """Read one entry and record it as the walk's next level."""
    value = read32(addr)
    w.levels.append(Level(name, index, addr, value, value if ad else None))
    return value


def _leaf(w, pde, leaf, pa, wp):
    """Check the rights of the final entry; on success set pa (and A/D)."""
    write = w.access == WRITE
    if _denied(pde & leaf, write, w.user, wp):
        return _fault(w, PF_P)
    w.pa = pa
    last = w.levels[-1]
    if last.after is not None:
        last.after = leaf | PTE_A | (PTE_D if write else 0)
    return w


def _fault(w, bits):
    """End the walk with a #PF: bits (P, RSVD) plus W and U of the access."""
    w.error_code = (bits | (PF_W if w.access == WRITE else 0)
                    | (PF_U if w.user else 0))
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
    return ", ".join(("user" if err & PF_U else "supervisor",
                      "write" if err & PF_W else "read", cause))


def format_walk(w):
    """'CR3=… → PDE[i]@addr=value(flags) → PTE[j]@… → PA 0x…', ending in
    "→ #PF 0x6 (user, write, not present)" when the access faults."""
    parts = [f"CR3={w.cr3:#010x}"]
    parts += [f"{lv.name}[{lv.index}]@{lv.addr:#010x}={lv.value:#010x}"
              f"({lv.flags})" for lv in w.levels]
    parts.append(f"PA {w.pa:#010x}" if w.ok else
                 f"#PF {w.error_code:#x} ({error_text(w.error_code)})")
    return ARROW.join(parts)
