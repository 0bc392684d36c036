"""The software page walker: what the IA32 MMU does for one access.

This is the only page-walk code in ia32k. The kernel's copy-in/copy-out,
its fault reports and the trace all call walk(); the differential test
checks it against the emulated CPU's own MMU.
"""

from dataclasses import dataclass, field
from typing import Optional

from emu.x86 import (PAGE_SIZE, PDE_LARGE_ADDR, PTE_ADDR, PTE_P, PTE_PS,
                     PTE_U, PTE_W, pdx, pf_error_code, ptx)

READ, WRITE, FETCH = "read", "write", "fetch"


@dataclass
class Level:
    """One entry the walk read: its name, physical address and raw value."""
    name: str      # "PDE" or "PTE"
    index: int
    addr: int
    value: int


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


def walk(read32, cr3, va, access=READ, user=True, wp=True, pse=True):
    """Translate va as the MMU would; read32(pa) reads guest physical RAM.

    Returns a Walk with pa set, or with error_code set to the #PF error code
    the CPU would raise. No Accessed/Dirty bits are written.
    """
    write = access == WRITE
    # 32-bit paging without SMEP never sets the I/D bit (SDM 4.7): the CPU
    # reports a faulting fetch exactly like a read.
    fetch = False
    w = Walk(va, access, user, cr3)
    pde_addr = (cr3 & PTE_ADDR) + 4 * pdx(va)
    pde = read32(pde_addr)
    w.levels.append(Level("PDE", pdx(va), pde_addr, pde))
    if not pde & PTE_P:
        w.error_code = pf_error_code(False, write, user, fetch)
        return w
    if pse and pde & PTE_PS:
        w.large = True
        if _denied(pde, pde, write, user, wp):
            w.error_code = pf_error_code(True, write, user, fetch)
            return w
        w.pa = (pde & PDE_LARGE_ADDR) | (va & 0x3FFFFF)
        return w
    pte_addr = (pde & PTE_ADDR) + 4 * ptx(va)
    pte = read32(pte_addr)
    w.levels.append(Level("PTE", ptx(va), pte_addr, pte))
    if not pte & PTE_P:
        w.error_code = pf_error_code(False, write, user, fetch)
        return w
    if _denied(pde, pte, write, user, wp):
        w.error_code = pf_error_code(True, write, user, fetch)
        return w
    w.pa = (pte & PTE_ADDR) | (va & (PAGE_SIZE - 1))
    return w


def _denied(pde, pte, write, user, wp):
    """Apply U/S and R/W combined across both levels (SDM 4.6)."""
    both = pde & pte
    if user:
        if not both & PTE_U:
            return True
        return write and not both & PTE_W
    return write and wp and not both & PTE_W
