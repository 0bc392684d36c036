"""The C hooks of emu/icount.c, compiled once with gcc into .build/ and
installed through ctypes: exact instruction counting and slicing (a code
hook), the default mode's synchronous preemption (a block hook), the
debugger's stop after a watched access (a code hook), and the record of
the pages each CPU has translated code from (an edge hook)."""

import ctypes
import functools
import hashlib
import os
import re
import subprocess
from pathlib import Path

from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_EDGE_GENERATED
from unicorn.unicorn_py3.unicorn import uclib

SOURCE = Path(__file__).with_name("icount.c")
CACHE = Path(__file__).resolve().parent.parent / ".build"


class ICount(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint64), ("limit", ctypes.c_uint64),
                ("stop", ctypes.c_void_p)]


@functools.lru_cache(maxsize=None)
def _library(source=SOURCE):
    """Compile the C file `source` (emu/*.c) into .build/ once per content
    and load it."""
    src = source.read_bytes()
    out = CACHE / f"{source.stem}-{hashlib.sha256(src).hexdigest()[:12]}.so"
    if not out.exists():
        CACHE.mkdir(exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(tmp),
                        str(source)], check=True, capture_output=True)
        tmp.replace(out)
    return ctypes.CDLL(str(out))


def _stop_address():
    """The address of uc_emu_stop, for the C hooks to call."""
    return ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value


def _add_hook(uch, htype, name, state, source=SOURCE):
    """Install C function `name` of the library built from `source` as a
    hook over every address, with a pointer to the ctypes structure `state`
    (kept alive by its owner) as its user data. Returns the hook handle."""
    h = ctypes.c_size_t()
    fn = ctypes.cast(getattr(_library(source), name), ctypes.c_void_p)
    err = uclib.uc_hook_add(uch, ctypes.byref(h), htype, fn,
                            ctypes.cast(ctypes.pointer(state), ctypes.c_void_p),
                            ctypes.c_uint64(1), ctypes.c_uint64(0))
    if err:
        raise RuntimeError(f"uc_hook_add({name}) failed: {err}")
    return h


class Counter:
    """Counts instructions on one Uc; stops it when a slice is used up."""

    def __init__(self, uch):
        self.state = ICount(0, 1 << 63, _stop_address())
        _add_hook(uch, UC_HOOK_CODE, "icount_hook", self.state)

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
        self.state = Preempt(0, _stop_address())
        _add_hook(uch, UC_HOOK_BLOCK, "preempt_hook", self.state)

    def raise_(self):
        self.state.pending = 1

    def clear(self):
        """Forget a request raised during the previous slice (or during a
        long kernel call): it was for that slice, not the next."""
        self.state.pending = 0


class StopNextState(ctypes.Structure):
    _fields_ = [("armed", ctypes.c_int), ("stop", ctypes.c_void_p),
                ("count", ctypes.c_void_p)]


class StopNext:
    """While installed (a C hook on every instruction, so only while the
    debugger watches memory): arm() from a memory hook stops the CPU before
    the next instruction starts."""

    def __init__(self, uch, counter=None):
        count = ctypes.addressof(counter.state) if counter else None
        self.state = StopNextState(0, _stop_address(), count)
        self.uch = uch
        self.handle = _add_hook(uch, UC_HOOK_CODE, "stop_next_hook",
                                self.state)

    def arm(self):
        self.state.armed = 1

    def disarm(self):
        self.state.armed = 0

    def remove(self):
        uclib.uc_hook_del(self.uch, self.handle)


_NONZERO = re.compile(rb"[^\x00]")
PAGES = 1 << 20                  # 4 KiB pages in a 32-bit address space


class CodePagesState(ctypes.Structure):
    _fields_ = [("bits", ctypes.c_void_p)]


class CodePages:
    """The virtual pages one CPU may hold translated code for: a C edge
    hook sets a page's bit whenever Unicorn translates a block there (every
    translation, once the CPU has run one block that returned normally:
    docs/unicorn.md "Code coherence between CPUs"). A bit stays set until
    clear(), when the CPU drops all its code."""

    def __init__(self, uch):
        self.bits = (ctypes.c_uint8 * (PAGES // 8))()
        self.state = CodePagesState(ctypes.addressof(self.bits))
        _add_hook(uch, UC_HOOK_EDGE_GENERATED, "code_pages_hook", self.state)

    def __contains__(self, va):
        """True when code may have been translated at va's page."""
        pfn = va >> 12
        return bool(self.bits[pfn >> 3] >> (pfn & 7) & 1)

    def in_range(self, start, end):
        """Yield the page addresses in [start, end) whose bit is set (a
        C-speed search for non-zero bytes of the bitmap)."""
        first, last = start >> 12, (end - 1) >> 12
        lo = first >> 3
        chunk = ctypes.string_at(ctypes.addressof(self.bits) + lo,
                                 (last >> 3) - lo + 1)
        for m in _NONZERO.finditer(chunk):
            byte = chunk[m.start()]
            for bit in range(8):
                pfn = (lo + m.start()) * 8 + bit
                if byte >> bit & 1 and first <= pfn <= last:
                    yield pfn << 12

    def clear(self):
        ctypes.memset(self.bits, 0, PAGES // 8)
