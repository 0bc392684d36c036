"""Bring the machine up: GDT, the kernel half of every page directory,
paging on, and the first ring-3 context (see emu.calibrate)."""

import struct
from array import array

from emu import x86
from emu.calibrate import calibrate
from emu.machine import Machine
from kernel.memlayout import (GDT_PA, KERNBASE, KPAE_PA, KPD_PA, KPT_PA,
                              SCRATCH_PA, kva)

GDT = (0,
       x86.flat_segment(0, code=True),      # SEG_KCODE
       x86.flat_segment(0, code=False),     # SEG_KDATA
       x86.flat_segment(3, code=True),      # SEG_UCODE
       x86.flat_segment(3, code=False))     # SEG_UDATA


def kernel_pdes(memory, mode):
    """PDEs 768.. mapping all of RAM at KERNBASE with 4 MiB supervisor pages,
    read-only: Unicorn (QEMU 5) makes a ring-3 far call's stack pushes as
    supervisor writes, so a user ESP in the kernel half could otherwise
    write any physical frame. The kernel itself writes RAM directly.
    Accessed and Dirty are preset so the MMU never changes these entries and
    the kernel half stays byte-identical in every page directory. The
    indexes are mode.dirx's: 768.. under 32-bit paging (4 MiB pages),
    1536.. under PAE (2 MiB pages, in the directory of PDPTE 3)."""
    first = mode.dirx(KERNBASE)
    return [(first + i, (i << mode.large_shift) | x86.PTE_P | x86.PTE_PS
             | x86.PTE_A | x86.PTE_D)
            for i in range(memory // mode.large_size)]


def kernel_half(memory, mode):
    """The kernel half as the bytes of its PDEs, from mode.dirx(KERNBASE)
    to the end of the flat PDE array."""
    first = mode.dirx(KERNBASE)
    half = array(mode.typecode, bytes(mode.entry_size
                                      * (mode.dirx(1 << 32) - first)))
    for i, v in kernel_pdes(memory, mode):
        half[i - first] = v
    return half.tobytes()


def user_kernel_half(hw, mode):
    """The kernel half of every user page directory, KPTI-style: one PDE
    naming a page table (KPT_PA) that maps only the GDT page, which the CPU
    itself reads when ring 3 loads a segment register. Nothing else of the
    kernel is reachable: Unicorn makes the stack accesses of a ring-3 far
    call, far return and iret as *supervisor* accesses, so a kernel half
    mapping all of RAM, even supervisor-only, let ring 3 read any frame.
    Supervisor, read-only, A preset (the MMU never writes these entries).
    Entries are in mode's format (a machine boots in one mode). Returns the
    bytes of the PDEs from mode.dirx(KERNBASE) to the end."""
    hw.zero(KPT_PA, x86.PAGE_SIZE)
    gdt = kva(GDT_PA)
    ents = array(mode.typecode, bytes(x86.PAGE_SIZE))
    ents[mode.tabx(gdt)] = GDT_PA | x86.PTE_P | x86.PTE_A
    hw.write(KPT_PA, ents.tobytes())
    first = mode.dirx(KERNBASE)
    half = array(mode.typecode, bytes(mode.entry_size
                                      * (mode.dirx(1 << 32) - first)))
    half[mode.dirx(gdt) - first] = KPT_PA | x86.PTE_P | x86.PTE_A
    return half.tobytes()


def prepare_machine(memory, ncpus=1):
    """A machine with the GDT and the kernel half loaded and 32-bit paging
    on, its CPU 0 still at CPL 0. Returns (machine, kernel-half (index,
    PDE) pairs, kernel-half PDE bytes)."""
    hw = Machine(memory, ncpus)
    cpu = hw.cpus[0]
    hw.write(GDT_PA, struct.pack(f"<{len(GDT)}Q", *GDT))
    half = kernel_half(memory, x86.PAGING_32)
    hw.write(KPD_PA + 4 * x86.pdx(KERNBASE), half)
    cpu.enable_paging(KPD_PA, x86.PAGING_32)
    cpu.load_gdt(kva(GDT_PA), len(GDT))
    return hw, kernel_pdes(memory, x86.PAGING_32), half


def boot_tables(hw, memory, mode):
    """The boot paging structures of mode (the kernel half only); returns
    what CR3 should hold. Under PAE: a PDPT whose kernel PDPTE names a
    directory holding the kernel half (the other PDPTEs not present)."""
    if mode.pde_level == 0:
        return KPD_PA
    hw.zero(KPAE_PA, 2 * x86.PAGE_SIZE)
    pdpt, kdir = KPAE_PA, KPAE_PA + x86.PAGE_SIZE
    hw.write64(pdpt + 8 * mode.index(0, KERNBASE), kdir | x86.PTE_P)
    first = mode.dirx(KERNBASE)
    hw.write(kdir + 8 * (first % mode.per_dir), kernel_half(memory, mode))
    return pdpt


def boot_machine(memory, ncpus, mode):
    """Return (machine, ring-3 template context, the kernel half of user
    page directories).
    Calibration runs under 32-bit paging; then the template is switched to
    `mode` (its CR4, EFER and CR3), so every context cloned from it runs in
    that mode. CPU 0 boots; the others get their state from the first
    context they load."""
    hw, pdes, _ = prepare_machine(memory, ncpus)
    cpu = hw.cpus[0]
    layout, template = calibrate(cpu, KERNBASE, pdes, SCRATCH_PA)
    hw.layout = layout
    if mode != x86.PAGING_32:          # calibration ran under 32-bit paging
        template.restore()
        cpu.enable_paging(boot_tables(hw, memory, mode), mode)
        template.save()
        cpu.flush_tlb()
    cpu.enable_paging(KPD_PA, x86.PAGING_32)
    for other in hw.cpus[1:]:
        _first_block(other)
    hw.flush_code()
    return hw, template, user_kernel_half(hw, mode)


def _first_block(cpu):
    """Run one ring-0 block to its end on a CPU that has never run:
    Unicorn tells its edge hooks (emu.iretguard) of a new block only once
    a block has *returned* on that CPU (one that ends in an exception does
    not count), and the first block of a user program must not escape.
    The block is `jmp $+2`; the run ends at the next one."""
    jmp = SCRATCH_PA[2] + 0xFF0
    cpu.machine.write(jmp, b"\xeb\x00")
    cpu.enable_paging(KPD_PA, x86.PAGING_32)
    cpu.load_gdt(kva(GDT_PA), len(GDT))
    cpu.load_kernel_segments()
    cpu.run_to(kva(jmp), kva(jmp) + 2)
