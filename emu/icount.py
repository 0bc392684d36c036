"""Exact instruction counting and slicing: a C code hook (emu/icount.c),
compiled once with gcc into .build/ and installed through ctypes."""

import ctypes
import hashlib
import subprocess
from pathlib import Path

from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE
from unicorn.unicorn_py3.unicorn import uclib

SOURCE = Path(__file__).with_name("icount.c")
CACHE = Path(__file__).resolve().parent.parent / ".build"


class ICount(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint64), ("limit", ctypes.c_uint64),
                ("stop", ctypes.c_void_p)]


def _library():
    src = SOURCE.read_bytes()
    out = CACHE / f"icount-{hashlib.sha256(src).hexdigest()[:12]}.so"
    if not out.exists():
        CACHE.mkdir(exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(tmp),
                        str(SOURCE)], check=True, capture_output=True)
        tmp.replace(out)
    return ctypes.CDLL(str(out))


class Counter:
    """Counts instructions on one Uc; stops it when a slice is used up."""

    def __init__(self, uch):
        self.lib = _library()
        self.state = ICount(0, 1 << 63, ctypes.cast(uclib.uc_emu_stop,
                                                      ctypes.c_void_p).value)
        h = ctypes.c_size_t()
        fn = ctypes.cast(self.lib.icount_hook, ctypes.c_void_p)
        err = uclib.uc_hook_add(uch, ctypes.byref(h), UC_HOOK_CODE, fn,
                                ctypes.cast(ctypes.pointer(self.state),
                                            ctypes.c_void_p),
                                ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise RuntimeError(f"uc_hook_add(icount) failed: {err}")

    @property
    def count(self):
        return self.state.count

    def allow(self, n):
        """Let the next run start at most n more instructions."""
        self.state.limit = self.state.count + n


class Preempt(ctypes.Structure):
    _fields_ = [("pending", ctypes.c_int), ("stop", ctypes.c_void_p)]


class PreemptFlag:
    """A flag any thread may raise; the CPU stops itself at the start of its
    next translated block (a C block hook, so the stop is synchronous)."""

    def __init__(self, uch):
        self.lib = _library()
        self.state = Preempt(0, ctypes.cast(uclib.uc_emu_stop,
                                            ctypes.c_void_p).value)
        h = ctypes.c_size_t()
        fn = ctypes.cast(self.lib.preempt_hook, ctypes.c_void_p)
        err = uclib.uc_hook_add(uch, ctypes.byref(h), UC_HOOK_BLOCK, fn,
                                ctypes.cast(ctypes.pointer(self.state),
                                            ctypes.c_void_p),
                                ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise RuntimeError(f"uc_hook_add(preempt) failed: {err}")

    def raise_(self):
        self.state.pending = 1

    def clear(self):
        self.state.pending = 0
