"""Bring the machine up: GDT, the kernel half of every page directory,
paging on, and the first ring-3 context (see emu.calibrate)."""

import struct
from array import array

from emu import x86
from emu.calibrate import calibrate
from emu.machine import Machine
from kernel.memlayout import GDT_PA, KERNBASE, KPD_PA, KPT_PA, SCRATCH_PA, \
    kva

GDT = (0,
       x86.flat_segment(0, code=True),      # SEG_KCODE
       x86.flat_segment(0, code=False),     # SEG_KDATA
       x86.flat_segment(3, code=True),      # SEG_UCODE
       x86.flat_segment(3, code=False))     # SEG_UDATA


def kernel_pdes(memory):
    """PDEs 768.. mapping all of RAM at KERNBASE with 4 MiB supervisor pages,
    read-only: Unicorn (QEMU 5) makes a ring-3 far call's stack pushes as
    supervisor writes, so a user ESP in the kernel half could otherwise
    write any physical frame. The kernel itself writes RAM directly.
    Accessed and Dirty are preset so the MMU never changes these entries and
    the kernel half stays byte-identical in every page directory."""
    first = x86.pdx(KERNBASE)
    return [(first + i, (i << 22) | x86.PTE_P | x86.PTE_PS | x86.PTE_A
             | x86.PTE_D)
            for i in range(memory // x86.LARGE_PAGE_SIZE)]


def user_kernel_half(hw):
    """The kernel half of every user page directory, KPTI-style: one PDE
    naming a page table (KPT_PA) that maps only the GDT page, which the CPU
    itself reads when ring 3 loads a segment register. Nothing else of the
    kernel is reachable: Unicorn makes the stack accesses of a ring-3 far
    call, far return and iret as *supervisor* accesses, so a kernel half
    mapping all of RAM, even supervisor-only, let ring 3 read any frame.
    Supervisor, read-only, A preset (the MMU never writes these entries).
    Returns the 256 PDEs' bytes."""
    hw.zero(KPT_PA, x86.PAGE_SIZE)
    gdt = kva(GDT_PA)
    hw.write32(KPT_PA + 4 * x86.ptx(gdt), GDT_PA | x86.PTE_P | x86.PTE_A)
    half = array("I", bytes(4 * 256))
    half[x86.pdx(gdt) - 768] = KPT_PA | x86.PTE_P | x86.PTE_A
    return half.tobytes()


def prepare_machine(memory, ncpus=1):
    """A machine with the GDT and the kernel half loaded and paging on, its
    CPU 0 still at CPL 0. Returns (machine, kernel-half (index, PDE) pairs,
    kernel-half PDE bytes)."""
    hw = Machine(memory, ncpus)
    cpu = hw.cpus[0]
    hw.write(GDT_PA, struct.pack(f"<{len(GDT)}Q", *GDT))
    pdes = kernel_pdes(memory)
    half = array("I", bytes(4 * 256))
    for i, v in pdes:
        half[i - 768] = v
    hw.write(KPD_PA + 4 * 768, half.tobytes())
    cpu.enable_paging(KPD_PA)
    cpu.load_gdt(kva(GDT_PA), len(GDT))
    return hw, pdes, half


def boot_machine(memory, ncpus=1):
    """Return (machine, ring-3 template context, the kernel half of user
    page directories). CPU 0 boots; the others get their state from the
    first context they load."""
    hw, pdes, half = prepare_machine(memory, ncpus)
    cpu = hw.cpus[0]
    layout, template = calibrate(cpu, KERNBASE, pdes, SCRATCH_PA)
    hw.layout = layout
    cpu.enable_paging(KPD_PA)
    for other in hw.cpus[1:]:
        _first_block(other)
    hw.flush_code()
    return hw, template, user_kernel_half(hw)


def _first_block(cpu):
    """Run one ring-0 block to its end on a CPU that has never run:
    Unicorn tells its edge hooks (emu.iretguard) of a new block only once
    a block has *returned* on that CPU (one that ends in an exception does
    not count), and the first block of a user program must not escape.
    The block is `jmp $+2`; the run ends at the next one."""
    jmp = SCRATCH_PA[2] + 0xFF0
    cpu.machine.write(jmp, b"\xeb\x00")
    cpu.enable_paging(KPD_PA)
    cpu.load_gdt(kva(GDT_PA), len(GDT))
    cpu.load_kernel_segments()
    cpu.run_to(kva(jmp), kva(jmp) + 2)
