"""Logging guest accesses to watched physical frames (emu/memlog.c), for
the race detector: one MemLog per CPU, a C memory hook installed only while
some frame is watched, and a buffer of fixed capacity the kernel drains in
order (and that calls back to be drained when it is full)."""

import ctypes
from array import array
from pathlib import Path

from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from emu.icount import _add_hook
from emu.x86 import PAGE_SHIFT

SOURCE = Path(__file__).with_name("memlog.c")
WRITE_BIT = 1 << 8
CAPACITY = 1 << 16               # records per CPU (12 bytes each)
FULL = ctypes.CFUNCTYPE(None)


class _State(ctypes.Structure):
    _fields_ = [("watch", ctypes.c_void_p), ("nframes", ctypes.c_uint32),
                ("n", ctypes.c_uint32), ("cap", ctypes.c_uint32),
                ("buf", ctypes.c_void_p), ("reg_read", ctypes.c_void_p),
                ("eip_id", ctypes.c_int), ("dropped", ctypes.c_uint32),
                ("full", FULL)]


class Watch:
    """Which physical frames are watched: one byte per frame, shared by
    every CPU's MemLog (so one update serves them all)."""

    def __init__(self, memory):
        self.nframes = memory >> PAGE_SHIFT
        self.bytes = (ctypes.c_uint8 * self.nframes)()
        self.count = 0

    def set(self, pa, on=True):
        """Watch (or stop watching) the frame at pa."""
        f = pa >> PAGE_SHIFT
        if bool(self.bytes[f]) != on:
            self.bytes[f] = int(on)
            self.count += 1 if on else -1

    def __contains__(self, pa):
        return bool(self.bytes[pa >> PAGE_SHIFT])


class MemLog:
    """One CPU's access log. enable()/disable() add and remove the hook
    (translated code is dropped each time: Unicorn decides at translation
    whether loads and stores take the hooked path). full(), when given, is
    called from inside the hook when the log holds `capacity` records and
    right after it logs an access that straddles two pages: it must
    drain() the log."""

    def __init__(self, cpu, watch, full=None, capacity=CAPACITY):
        self.cpu = cpu
        self.buf = (ctypes.c_uint32 * (3 * capacity))()
        self._full = FULL(full) if full else FULL()
        self.state = _State(ctypes.addressof(watch.bytes), watch.nframes,
                            0, capacity, ctypes.addressof(self.buf),
                            ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p),
                            X.UC_X86_REG_EIP, 0, self._full)
        self.hook = None

    @property
    def enabled(self):
        return self.hook is not None

    def enable(self):
        if self.hook is None:
            self.hook = _add_hook(self.cpu.uch,
                                   UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                                   "memlog_hook", self.state, SOURCE)
            self.cpu.flush_code()

    def disable(self):
        if self.hook is not None:
            uclib.uc_hook_del(self.cpu.uch, self.hook)
            self.hook = None
            self.cpu.flush_code()

    def drain(self):
        """The records logged since the last drain, as a flat array of u32
        (eip, pa, size | WRITE_BIT when a write) triples; empties the log."""
        n = self.state.n
        if not n:
            return None
        out = array("I", ctypes.string_at(self.state.buf, 12 * n))
        self.state.n = 0
        return out

    @property
    def dropped(self):
        return self.state.dropped

    def close(self):
        self.disable()
