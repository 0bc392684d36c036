"""Bring the machine up: GDT, the kernel half of every page directory,
paging on, and the first ring-3 context (see emu.calibrate)."""

import struct
from array import array

from emu import x86
from emu.calibrate import calibrate
from emu.machine import Machine
from kernel.memlayout import GDT_PA, KERNBASE, KPD_PA, SCRATCH_PA, kva

GDT = (0,
       x86.flat_segment(0, code=True),      # SEG_KCODE
       x86.flat_segment(0, code=False),     # SEG_KDATA
       x86.flat_segment(3, code=True),      # SEG_UCODE
       x86.flat_segment(3, code=False))     # SEG_UDATA


def kernel_pdes(memory):
    """PDEs 768.. mapping all of RAM at KERNBASE with 4 MiB supervisor pages."""
    first = x86.pdx(KERNBASE)
    return [(first + i, (i << 22) | x86.PTE_P | x86.PTE_W | x86.PTE_PS)
            for i in range(memory // x86.LARGE_PAGE_SIZE)]


def boot_machine(memory, ncpus=1):
    """Return (machine, ring-3 template context, kernel-half PDE bytes).
    CPU 0 boots; the others get their state from the first context they load."""
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
    layout, template = calibrate(cpu, KERNBASE, pdes, SCRATCH_PA)
    hw.layout = layout
    cpu.enable_paging(KPD_PA)
    hw.flush_code()
    return hw, template, half.tobytes()
