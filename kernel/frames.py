"""The physical frame allocator: a free list and a reference count per frame.

A frame's count is the number of page-table entries and kernel owners (a page
directory, a page table, a shm segment) that name it. It returns to the free
list when the count reaches zero. Frames are handed out lowest first, so a
run is reproducible.
"""

from array import array

from emu.x86 import PAGE_SHIFT


class FrameError(Exception):
    """A broken allocator invariant: a kernel bug."""


class Frames:
    """Frames [first, first + count) of physical RAM, by physical address."""

    def __init__(self, first_pa, end_pa):
        self.first = first_pa >> PAGE_SHIFT
        self.end = end_pa >> PAGE_SHIFT
        self.ref = array("I", bytes(4 * self.end))
        self.free = list(range(self.end - 1, self.first - 1, -1))
        self.reused = False      # a freed frame may still hold old code

    @property
    def total(self):
        return self.end - self.first

    @property
    def nfree(self):
        return len(self.free)

    def alloc(self):
        """Take a free frame with count 1; return its address, or None."""
        if not self.free:
            return None
        pfn = self.free.pop()
        self.ref[pfn] = 1
        return pfn << PAGE_SHIFT

    def incref(self, pa):
        pfn = pa >> PAGE_SHIFT
        if not self.first <= pfn < self.end or self.ref[pfn] == 0:
            raise FrameError(f"incref: frame {pa:#x} is not allocated")
        self.ref[pfn] += 1

    def incref_pfns(self, pfns):
        """One more reference on each frame numbered in pfns (an array("I")
        that may repeat a frame); 0 stands for no frame (frame 0 is never
        the allocator's). fork's bulk path, unchecked: each run of
        consecutive frame numbers is one big-integer addition over that
        slice of the counts (C-speed); many short runs, one loop."""
        ref, runs = self.ref, consecutive_runs(pfns)
        if runs is None:
            for pfn in pfns:
                ref[pfn] += 1
            ref[0] = 0
            return
        for first, n in runs:
            if first:
                v = int.from_bytes(ref[first:first + n].tobytes(), "little")
                ref[first:first + n] = array("I", (v + lanes(n)).to_bytes(
                    4 * n, "little"))

    def decref(self, pa):
        """Drop one reference; free the frame at zero. Returns the new count."""
        pfn = pa >> PAGE_SHIFT
        if not self.first <= pfn < self.end or self.ref[pfn] == 0:
            raise FrameError(f"decref: frame {pa:#x} is not allocated")
        self.ref[pfn] -= 1
        if self.ref[pfn] == 0:
            self.free.append(pfn)
            self.reused = True
        return self.ref[pfn]

    def refcount(self, pa):
        return self.ref[pa >> PAGE_SHIFT]


_NONZERO = bytes([0] + [1] * 255)


def consecutive_runs(pfns):
    """[(first, count)] splitting pfns into runs of consecutive numbers,
    found with big-integer lanes (one 32-bit lane per number); None when
    the runs are so many that a plain loop is cheaper."""
    n = len(pfns)
    if n == 0:
        return []
    x = int.from_bytes(pfns.tobytes(), "little")
    # lane i is nonzero where pfns[i + 1] != pfns[i] + 1 (the last lane: 0)
    breaks = ((x >> 32) ^ (x + lanes(n))) & ((1 << (32 * (n - 1))) - 1)
    marks = breaks.to_bytes(4 * n, "little").translate(_NONZERO)
    if marks.count(1) > n // 8:
        return None
    runs, start, at = [], 0, marks.find(1)
    while at >= 0:
        lane = at // 4
        runs.append((pfns[start], lane + 1 - start))
        start = lane + 1
        at = marks.find(1, 4 * start)
    runs.append((pfns[start], n - start))
    return runs


def lanes(n, _cache={}):
    """An integer with a 1 in the low bit of each of n 32-bit lanes (for
    operations on many 32-bit entries at once)."""
    if n not in _cache:
        _cache[n] = ((1 << (32 * n)) - 1) // 0xFFFFFFFF
    return _cache[n]
