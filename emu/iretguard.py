"""The iret guard: a CPL-3 iret never runs in Unicorn without the kernel
looking at it first.

QEMU's iret helper enters virtual-8086 mode whenever the EFLAGS it pops has
VM set, skipping the SDM's CPL test (for CPL > 0 the SDM ignores VM and
IOPL and performs a protected-mode return), and no hook sees an iret. So:
1. a C edge hook (emu/icount.c iret_edge_hook) runs whenever Unicorn has
   translated a new block, before the block runs; a block whose last byte
   is 0xCF stops the CPU;
2. here, the block is decoded; if it really ends in an iret, a code hook is
   put on that one address and the block is translated again with it;
3. the code hook calls the kernel (Cpu.on_iret) before every execution of
   that iret, which may perform the return itself or fault.
Cost: a C call per newly translated block; a Python call per iret run.
"""

import ctypes

from capstone import CS_ARCH_X86, CS_MODE_32, Cs
from unicorn import UC_HOOK_CODE, UC_HOOK_EDGE_GENERATED
from unicorn.unicorn_py3.unicorn import uclib

from emu import icount

MAX_HOOKS = 64                   # iret sites hooked at once per CPU
_PROT_EXEC = 4
_CODE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64,
                            ctypes.c_uint32, ctypes.c_void_p)
_disasm = Cs(CS_ARCH_X86, CS_MODE_32)


class GuardState(ctypes.Structure):
    _fields_ = [("pending", ctypes.c_int), ("pc", ctypes.c_uint64),
                ("size", ctypes.c_uint32), ("stop", ctypes.c_void_p),
                ("vmem_read", ctypes.c_void_p)]


class IretGuard:
    """Keeps one CPU's iret instructions under code hooks that call
    on_iret(address) before each one runs."""

    def __init__(self, cpu, on_iret):
        self.cpu, self.on_iret = cpu, on_iret
        self.state = GuardState(0, 0, 0, icount._stop_address(),
                                ctypes.cast(uclib.uc_vmem_read,
                                            ctypes.c_void_p).value)
        icount._add_hook(cpu.uch, UC_HOOK_EDGE_GENERATED, "iret_edge_hook",
                         self.state)
        self.hooks = {}          # iret address -> hook handle
        self._cb = _CODE_CB(lambda uc, address, size, ud:
                            self.cpu.guarded(self.on_iret, address))

    def stopped(self):
        """After a run ends: True when the guard stopped it (a block ending
        in 0xCF was just translated) and the run must go on from EIP."""
        if not self.state.pending:
            return False
        self.state.pending = 0
        pc, size = self.state.pc, self.state.size
        new = [a for a in iret_starts(self._read(pc, size), pc)
               if a not in self.hooks]
        for at in new:
            self._hook(at)
        if new:
            self.cpu.uc.ctl_remove_cache(pc, pc + size)   # again, hooked
        return True

    def _read(self, va, n):
        buf = ctypes.create_string_buffer(n)
        if uclib.uc_vmem_read(self.cpu.uch, ctypes.c_uint64(va), _PROT_EXEC,
                              buf, ctypes.c_size_t(n)):
            return b""
        return buf.raw

    def _hook(self, at):
        """A code hook on the iret at address at (at most MAX_HOOKS: past
        that, all go and translated code is dropped, to be found again)."""
        if len(self.hooks) >= MAX_HOOKS:
            for h in self.hooks.values():
                uclib.uc_hook_del(self.cpu.uch, h)
            self.hooks.clear()
            self.cpu.flush_code()
        h = ctypes.c_size_t()
        err = uclib.uc_hook_add(self.cpu.uch, ctypes.byref(h), UC_HOOK_CODE,
                                ctypes.cast(self._cb, ctypes.c_void_p), None,
                                ctypes.c_uint64(at), ctypes.c_uint64(at))
        if err:
            raise RuntimeError(f"uc_hook_add(iret at {at:#x}) failed: {err}")
        self.hooks[at] = h


PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2,
            0xF3}


def iret_starts(code, pc):
    """Where the iret that ends the block code (at pc) may start: its
    address when the block decodes to its end, else every start its last
    byte (0xCF) and the prefix bytes before it allow, so that an iret
    capstone cannot place is still hooked."""
    last = None
    for insn in _disasm.disasm(code, pc):
        last = insn
    if last is not None and last.address + last.size == pc + len(code):
        return [last.address] if last.mnemonic.startswith("iret") else []
    starts, i = [], len(code) - 1
    while i >= 0 and len(code) - i <= 15:
        starts.append(pc + i)
        if i == 0 or code[i - 1] not in PREFIXES:
            break
        i -= 1
    return starts
