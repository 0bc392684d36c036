"""Run one memory access on the emulated CPU's own MMU and say what it did.

The differential test (tests/test_walk_diff.py) builds page tables in RAM
and asks an MMUProbe for one read, write or instruction fetch at a linear
address, at CPL 3 or CPL 0, with CR0.WP on or off. The probe executes one
real instruction, with the address in EBX:

    read:   mov eax, [ebx]   then int 0x80
    write:  mov [ebx], ecx   then int 0x80
    fetch:  jmp ebx          (whatever is there runs; the test plants
                              `mov eax, imm32 ; int 0x80`, see fetch_stub)

and reports the trap that ended the run: int 0x80 (the access completed)
or a #PF with CR2 and the error code from the saved context. The code is
fixed bytes in one frame, because new code written from the host would not
be seen (docs/unicorn.md fact 2). CPL 3 code runs at CODE_VA through a page
table the probe owns; CPL 0 code at kernbase + its physical address.

One access cannot be probed: a fetch at linear address 0. Machine.run
passes emu_start until = 0, and a run whose EIP reaches `until` stops there
(no fetch fault is raised when page 0 is mapped) and then probes until - 1
(docs/unicorn.md fact 6). The kernel never maps page 0, so for it a jump to 0 is
a plain #PF.
"""

import struct
from dataclasses import dataclass
from typing import Optional

from emu import x86
from emu.x86 import Vector
from emu.calibrate import calibrate
from emu.walk import FETCH, READ, WRITE

CODE_VA = 0x00400000
UNPROBED_FETCH = 0             # Machine.run's until address
_SLOT = {READ: 0, WRITE: 8, FETCH: 16}
_CODE = (bytes.fromhex("8b03cd80") + bytes(4)     # mov eax,[ebx]; int 0x80
         + bytes.fromhex("890bcd80") + bytes(4)   # mov [ebx],ecx; int 0x80
         + bytes.fromhex("ffe3"))                 # jmp ebx
FETCH_STUB_LEN = 7


def fetch_stub(value):
    """`mov eax, value ; int 0x80`: planted where a fetch may land."""
    return b"\xb8" + struct.pack("<I", value) + b"\xcd\x80"


@dataclass
class Outcome:
    """How the probe's run ended: vector Vector.SYSCALL means the access
    completed; otherwise the exception, with CR2 and error code for #PF."""
    vector: int
    eip: int
    eax: int
    cr2: Optional[int] = None
    error_code: Optional[int] = None

    @property
    def ok(self):
        return self.vector == Vector.SYSCALL


class MMUProbe:
    """A machine set up to perform single accesses for the test."""

    def __init__(self, hw, kernbase, kernel_pdes, scratch, frames):
        """hw comes from kernel.boot.prepare_machine (still at CPL 0);
        scratch: four frames for emu.calibrate; frames: four free frames for
        the probe's own code page table (one per entry size), its code, and
        the kernel page directory a PAE PDPTE names."""
        cpu = hw.cpus[0]
        cpu.load_kernel_segments()
        self.ring0 = cpu.new_context()
        self.ring0.save()
        layout, self.ring3 = calibrate(cpu, kernbase, kernel_pdes, scratch)
        hw.layout = self.ring0.layout = layout
        self.hw, self.cpu, self.kernbase = hw, cpu, kernbase
        self.kernel_pdes = kernel_pdes
        self.code_pt, self.code_pa, self.code_pt64, self.kpd64 = frames
        for f in (self.code_pt, self.code_pt64, self.kpd64):
            hw.zero(f, x86.PAGE_SIZE)
        hw.write(self.code_pa, _CODE)
        user_a = x86.PTE_P | x86.PTE_U | x86.PTE_A
        hw.write32(self.code_pt + 4 * x86.ptx(CODE_VA), self.code_pa | user_a)
        pae = x86.PAGING_PAE
        hw.write32(self.code_pt64 + 8 * pae.index(2, CODE_VA),
                   self.code_pa | user_a)
        for i in range(hw.memory // pae.large_size):     # RAM at kernbase
            hw.write32(self.kpd64 + 8 * (pae.index(1, kernbase) + i),
                       (i << 21) | x86.PTE_P | x86.PTE_PS | x86.PTE_A)
        hw.flush_code()
        self._ctx = cpu.new_context()      # where a trap's state is read
        self._result = None

    @property
    def reserved_pdx(self):
        """32-bit PDE indexes the probe needs for itself: leave them alone."""
        return {x86.pdx(CODE_VA)} | {i for i, _ in self.kernel_pdes}

    def reserved_pae(self):
        """(PDPTE indexes, PDE indexes under PDPTE 0) the probe needs for
        itself under PAE paging."""
        pae = x86.PAGING_PAE
        return {pae.index(0, self.kernbase)}, {pae.index(1, CODE_VA)}

    def install(self, pd):
        """Zero the page directory at pd and add what the probe needs: the
        kernel half and the code's PDE, with A already set so the probe's
        own fetches change no entry."""
        hw = self.hw
        hw.zero(pd, x86.PAGE_SIZE)
        for i, v in self.kernel_pdes:
            hw.write32(pd + 4 * i, v | x86.PTE_A)
        hw.write32(pd + 4 * x86.pdx(CODE_VA),
                   self.code_pt | x86.PTE_P | x86.PTE_U | x86.PTE_A)

    def install_pae(self, pdpt, low_pd):
        """Zero the PDPT frame at pdpt and the directory low_pd; point
        PDPTE 0 at low_pd (with the code's PDE in it) and the kernel's PDPTE
        at the probe's kernel directory."""
        hw, pae = self.hw, x86.PAGING_PAE
        hw.zero(pdpt, x86.PAGE_SIZE)
        hw.zero(low_pd, x86.PAGE_SIZE)
        hw.write32(pdpt, low_pd | x86.PTE_P)
        hw.write32(pdpt + 8 * pae.index(0, self.kernbase),
                   self.kpd64 | x86.PTE_P)
        hw.write32(low_pd + 8 * pae.index(1, CODE_VA),
                   self.code_pt64 | x86.PTE_P | x86.PTE_U | x86.PTE_A)

    def run(self, pd, va, access, user, wp=True, value=0, *, mode):
        """Perform one access at va under the top-level table pd (a page
        directory, or a PDPT under PAE) in paging mode `mode`, at CPL 3 when
        user else CPL 0; value is what a write stores. Returns an Outcome."""
        if access == FETCH and va == UNPROBED_FETCH:
            raise ValueError("a fetch at the run's until address cannot be "
                             "probed")
        hw = self.cpu
        (self.ring3 if user else self.ring0).restore()   # a clean state
        hw.enable_paging(pd, mode, wp)
        hw.flush_tlb()                                   # docs/unicorn.md fact 3
        if access == FETCH:
            hw.flush_code()          # the test planted new code at targets
        hw.set_reg("ebx", va)
        hw.set_reg("ecx", value)
        base = CODE_VA if user else self.kernbase + self.code_pa
        return self._run(base + _SLOT[access])

    def _run(self, eip):
        """Run from eip with the probe's trap handlers until the first trap."""
        hw = self.cpu
        saved = hw.on_interrupt, hw.on_invalid, hw.on_io
        hw.on_interrupt = self._trap
        hw.on_invalid = lambda: self._trap(Vector.INVALID_OPCODE) or True
        hw.on_io = lambda: self._trap(Vector.GENERAL_PROTECTION)
        self._result = None
        try:
            hw.run(eip)
        finally:
            hw.on_interrupt, hw.on_invalid, hw.on_io = saved
        if self._result is None:
            raise RuntimeError(f"probe run from {eip:#x} ended without a trap")
        return self._result

    def _trap(self, vector):
        """Any trap ends the run: record it (with CR2 and error code for a
        #PF, read from the saved context) and stop."""
        hw = self.cpu
        out = Outcome(vector, hw.reg("eip"), hw.reg("eax"))
        if vector == Vector.PAGE_FAULT:
            self._ctx.save()
            out.cr2, out.error_code = hw.reg("cr2"), self._ctx.error_code()
        self._result = out
        hw.stop()
