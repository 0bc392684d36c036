"""Confidentiality for the fuzzer: a secret only the canary holds, and the
places it must never appear (another process's memory, the run's output,
exit statuses and fault reports).

The secret is 16 random bytes, fresh for every boot, none of them zero
(so all-zero memory, most of what is scanned, can never match). A *hit* is
any 4-byte window of it (13 windows) found as bytes, or one window's
little-endian value found as hex text (kernel messages print addresses and
error codes in hex). A hit is not yet a leak: the fuzzer replays the same
boot (same programs, same interleaving: runs are deterministic under
--quantum) with a different secret, and calls it a leak only when the
replay hits the new secret too. A chance hit needs one of 2^32 values per
window, twice, with two independent secrets: for D distinct 4-byte values
scanned in one boot the chance of a false leak is about (13 D / 2^32)^2,
below 10^-9 for D = 10^4. The whole 16-byte secret is a leak at once
(2^-128).
"""

import os
import struct
import threading
import time
from array import array
from itertools import compress

from emu.x86 import PTE_P, PTE_PS

SECRET_LEN = 16
WINDOW = 4
PAGE = 4096
LARGE = 4 << 20


def new_secret(randbytes=os.urandom):
    """16 random bytes, none zero."""
    while True:
        s = randbytes(SECRET_LEN)
        if 0 not in s:
            return s


class Secret:
    """The secret and the forms a partial leak of it may take."""

    def __init__(self, data):
        self.data = bytes(data)
        self.windows = sorted({self.data[i:i + WINDOW]
                               for i in range(SECRET_LEN - WINDOW + 1)})
        vals = [struct.unpack("<I", w)[0] for w in self.windows]
        self.values = set(vals)
        self.texts = sorted({f"{v:x}".encode() for v in vals} |
                            {f"{v:08x}".encode() for v in vals} |
                            {f"{v:08X}".encode() for v in vals})

    def hits(self, buf, text=False):
        """The windows (or hex texts) of the secret found in buf."""
        if self.data in buf:
            return ["whole secret"]
        needles = self.windows + (self.texts if text else [])
        return [n.hex() if n in self.windows else n.decode()
                for n in needles if n in buf]

    def value_hits(self, values):
        """The 32-bit values among values that are windows of the secret."""
        return [f"{v & 0xFFFFFFFF:#010x}" for v in values
                if v is not None and v & 0xFFFFFFFF in self.values]


_scanning = threading.local()


def scan_seconds():
    """The seconds this thread has spent scanning console output for the
    secret (the fuzzer's time, not the kernel's: a call's stall check
    leaves it out)."""
    return getattr(_scanning, "seconds", 0.0)


class ScanSink:
    """A console stream that keeps no more than a small head of what is
    written, and looks for the secret in all of it (a write of gigabytes
    costs no host memory here)."""

    HEAD = 4096

    def __init__(self, secret):
        self.secret = secret
        self.head = bytearray()
        self.tail = b""
        self.length = 0
        self.found = []

    def write(self, data):
        t0 = time.monotonic()
        n = self._scan(bytes(data))
        _scanning.seconds = scan_seconds() + time.monotonic() - t0
        return n

    def _scan(self, data):
        self.length += len(data)
        if len(self.head) < self.HEAD:
            self.head += data[:self.HEAD - len(self.head)]
        buf = self.tail + data
        if buf.count(0) != len(buf):
            for h in self.secret.hits(buf, text=True):
                if h not in self.found:
                    self.found.append(h)
        self.tail = buf[-16:]
        return len(data)

    def flush(self):
        pass

    def getvalue(self):
        return bytes(self.head)


def user_frames(hw, pd):
    """(va, pa, size) of every present user page under page directory pd
    (32-bit paging: 4 KiB pages and 4 MiB PS pages), read from guest RAM."""
    pdes = array("I", hw.read(pd, 768 * 4))
    for i, pde in enumerate(pdes):
        if not pde & PTE_P:
            continue
        if pde & PTE_PS:
            yield i << 22, pde & 0xFFC00000, LARGE
            continue
        ptes = array("I", hw.read(pde & ~0xFFF, PAGE))
        for j in compress(range(len(ptes)), ptes):      # non-zero entries
            if ptes[j] & PTE_P:
                yield (i << 22) | (j << 12), ptes[j] & ~0xFFF, PAGE


def memory_of(hw, pd):
    """Everything a process can reach, each physical frame once, in
    virtual-address order."""
    seen, parts = set(), []
    for _, pa, size in user_frames(hw, pd):
        if pa not in seen and pa + size <= len(hw.mem):
            seen.add(pa)
            parts.append(hw.mem[pa:pa + size])
    return b"".join(parts)


class LeakWatch:
    """A kernel observer: at every exit but the canary's, scan the process's
    frames, its exit status and its fault report for the secret."""

    def __init__(self, k, secret, canary_pid):
        self.k, self.secret, self.canary = k, secret, canary_pid
        self.found = []             # (pid, name, where, hits)

    def on_exit(self, p):
        if p.pid == self.canary:
            return
        if p.aspace is not None:
            hits = self.secret.hits(memory_of(self.k.hw, p.aspace.pd))
            if hits:
                self.found.append((p.pid, p.name, "memory", hits))
        values = [p.status] + [(p.fault or {}).get(f) for f in
                               ("eip", "cr2", "error_code")]
        hits = self.secret.value_hits(values)
        if hits:
            self.found.append((p.pid, p.name, "status/fault", hits))
