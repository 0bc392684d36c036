"""Saved CPU contexts, and the layout of registers inside them.

A Context is one CPU's complete state (registers, CR3, segment state) as
Unicorn saves it. The kernel keeps one per process. Some fields have no
Unicorn register id (the #PF error code, the "exception in progress" field
that must be reset after a handled exception, see docs/unicorn.md fact 1), so
their offsets inside the context bytes are found at boot by calibration
(emu.calibrate) rather than trusted as constants.
"""

import ctypes
import struct
from dataclasses import dataclass

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

# Register names the kernel may use, mapped to Unicorn ids (never exported).
REGS = {
    "eax": X.UC_X86_REG_EAX, "ebx": X.UC_X86_REG_EBX,
    "ecx": X.UC_X86_REG_ECX, "edx": X.UC_X86_REG_EDX,
    "esi": X.UC_X86_REG_ESI, "edi": X.UC_X86_REG_EDI,
    "ebp": X.UC_X86_REG_EBP, "esp": X.UC_X86_REG_ESP,
    "eip": X.UC_X86_REG_EIP, "eflags": X.UC_X86_REG_EFLAGS,
    "cr0": X.UC_X86_REG_CR0, "cr2": X.UC_X86_REG_CR2,
    "cr3": X.UC_X86_REG_CR3, "cr4": X.UC_X86_REG_CR4,
    "cs": X.UC_X86_REG_CS, "ss": X.UC_X86_REG_SS,
    "ds": X.UC_X86_REG_DS, "es": X.UC_X86_REG_ES,
    "fs": X.UC_X86_REG_FS, "gs": X.UC_X86_REG_GS,
}
GPRS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
_FLAGS_VAL = ctypes.c_uint64(0)
_FLAGS_IDS = (ctypes.c_int * 1)(REGS["eflags"])
_FLAGS_PTRS = (ctypes.c_void_p * 1)(ctypes.addressof(_FLAGS_VAL))
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")


@dataclass
class Layout:
    """Byte offsets inside a saved context, found by emu.calibrate."""
    size: int
    regs: dict            # name -> offset, for GPRS and eip
    error_code: int
    old_exception: int
    exception_is_int: int


class Context:
    """One saved CPU state; its bytes are readable and patchable in place."""

    def __init__(self, uch, layout=None, size=None):
        self._uch = uch
        self.handle = ctypes.c_void_p()
        if uclib.uc_context_alloc(uch, ctypes.byref(self.handle)) != 0:
            raise MemoryError("uc_context_alloc failed")
        self.layout = layout
        n = size if size is not None else layout.size
        self.bytes = (ctypes.c_char * n).from_address(self.handle.value)
        self.view = memoryview(self.bytes).cast("B")

    def __del__(self):
        if self.handle and uclib is not None:
            uclib.uc_context_free(self.handle)
            self.handle = None

    def save(self):
        """Copy the state of the CPU it was made on into this context
        (Cpu.save/Cpu.load work with any CPU of the machine)."""
        uclib.uc_context_save(self._uch, self.handle)

    def settle_flags(self):
        """Fold the arithmetic flags into the EFLAGS word of a state saved
        inside a hook. Mid-run, QEMU keeps them lazily (CC_SRC/CC_OP) and
        the word lacks them; restored outside a run, the CPU rebuilds them
        from that word and they would be lost (with DF)."""
        uclib.uc_context_reg_read_batch(self.handle, _FLAGS_IDS, _FLAGS_PTRS, 1)
        uclib.uc_context_reg_write_batch(self.handle, _FLAGS_IDS, _FLAGS_PTRS, 1)

    def restore(self):
        """Load this context into the CPU it was made on (no TLB flush)."""
        uclib.uc_context_restore(self._uch, self.handle)

    def copy_from(self, other):
        """Make this context a byte copy of other."""
        self.view[:] = other.view

    def get(self, name):
        """Read a register of this saved state by name."""
        off = self.layout.regs.get(name)
        if off is not None:
            return _U32.unpack_from(self.view, off)[0]
        val = ctypes.c_uint64(0)
        ids = (ctypes.c_int * 1)(REGS[name])
        ptrs = (ctypes.c_void_p * 1)(ctypes.addressof(val))
        uclib.uc_context_reg_read_batch(self.handle, ids, ptrs, 1)
        return val.value & 0xFFFFFFFF

    def set(self, name, value):
        """Write a register of this saved state by name."""
        off = self.layout.regs.get(name)
        if off is not None:
            _U32.pack_into(self.view, off, value & 0xFFFFFFFF)
            return
        val = ctypes.c_uint64(value & 0xFFFFFFFF)
        ids = (ctypes.c_int * 1)(REGS[name])
        ptrs = (ctypes.c_void_p * 1)(ctypes.addressof(val))
        uclib.uc_context_reg_write_batch(self.handle, ids, ptrs, 1)

    def error_code(self):
        return _I32.unpack_from(self.view, self.layout.error_code)[0]

    def is_software_int(self):
        return _I32.unpack_from(self.view, self.layout.exception_is_int)[0] != 0

    def clear_exception(self):
        """Reset "exception in progress" so the next fault is not a #DF."""
        _I32.pack_into(self.view, self.layout.old_exception, -1)

    def old_exception(self):
        return _I32.unpack_from(self.view, self.layout.old_exception)[0]

    def read_i32(self, off):
        return _I32.unpack_from(self.view, off)[0]
