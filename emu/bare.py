"""Bare Unicorn, no kernel: the yardsticks `make bench` divides by.

Each function runs the same guest work the kernel benchmark runs, on a plain
32-bit Uc with flat memory and no paging, and returns seconds.
"""

import time

from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc
from unicorn import x86_const as X

BASE = 0x00400000


def _uc(code):
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(BASE, 0x10000)
    uc.mem_map(0x00800000, 0x10000)
    uc.mem_write(BASE, code)
    uc.reg_write(X.UC_X86_REG_ESP, 0x00810000)
    return uc


def run_seconds(code, end_offset):
    """Run code from BASE until BASE + end_offset; return host seconds."""
    uc = _uc(code)
    t = time.perf_counter()
    uc.emu_start(BASE, BASE + end_offset)
    return time.perf_counter() - t


def hook_round_trip_seconds(code, end_offset):
    """Run code whose int 0x80s go to a Python hook that reads EAX and
    writes it back plus one, through the binding (the plain way)."""
    uc = _uc(code)

    def hook(uc_, intno, _):
        uc_.reg_write(X.UC_X86_REG_EAX, uc_.reg_read(X.UC_X86_REG_EAX) + 1)

    uc.hook_add(UC_HOOK_INTR, hook)
    t = time.perf_counter()
    uc.emu_start(BASE, BASE + end_offset)
    return time.perf_counter() - t
