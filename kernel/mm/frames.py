"""The physical frame allocator: a free map and a reference count per frame.

A frame's count is the number of page-table entries and kernel owners (a page
directory, a page table, a shm segment) that name it. It returns to the free
map when the count reaches zero. The free map is one byte per frame (1 =
free), so freed neighbours coalesce by themselves and an aligned, physically
contiguous run (a 4 MiB or 2 MiB large page) is found with a C-speed slice
compare per candidate:
- alloc() hands out the lowest free frame, so small allocations pack low;
- alloc_run(n, align) takes the highest free aligned run, so large pages
  come from the top, away from the small ones (the two ends keep each other
  from fragmenting RAM, as a buddy allocator's split orders do).
Both are deterministic: the same operations give the same frames.
merge_runs merges frames (or pages) into runs of consecutive ones, for the
kernel and for every observer that prints runs; lanes gives the constants
of the big-integer lane arithmetic that handles many entries at once.
"""

from array import array
from itertools import compress
from operator import mul

from emu.x86 import PAGE_SHIFT, PAGE_SIZE


class FrameError(Exception):
    """A broken allocator invariant: a kernel bug."""


class Frames:
    """Frames [first, first + count) of physical RAM, by physical address."""

    def __init__(self, first_pa, end_pa):
        self.first = first_pa >> PAGE_SHIFT
        self.end = end_pa >> PAGE_SHIFT
        self.ref = array("I", bytes(4 * self.end))
        self.free_map = bytearray(self.first) + b"\x01" * self.total
        self.nfree = self.total
        self.low = self.first    # no free frame below this one
        self.reused = False      # a freed frame may still hold old code
        self.touched = None      # when a set, every frame number whose
        # count changes is added to it (for an incremental checker)

    @property
    def total(self):
        return self.end - self.first

    def is_free(self, pa):
        return self.free_map[pa >> PAGE_SHIFT] == 1

    def free_pfns(self):
        """Every free frame number, lowest first (for reports and tests)."""
        return [pfn for pfn in range(self.first, self.end)
                if self.free_map[pfn]]

    def alloc(self):
        """Take the lowest free frame with count 1; return its address, or
        None."""
        pfn = self.free_map.find(1, self.low)
        if pfn < 0:
            self.low = self.end
            return None
        self.free_map[pfn] = 0
        self.low = pfn + 1
        self.nfree -= 1
        self.ref[pfn] = 1
        if self.touched is not None:
            self.touched.add(pfn)
        return pfn << PAGE_SHIFT

    def alloc_run(self, npages, align):
        """Take the highest free run of npages frames whose first frame
        number is a multiple of align pages, each with count 1; return the
        first frame's address, or None when no such run is free."""
        want = b"\x01" * npages
        start = (self.end - npages) // align * align
        while start >= self.first:
            if self.free_map[start:start + npages] == want:
                self.free_map[start:start + npages] = bytes(npages)
                self.ref[start:start + npages] = array("I", [1]) * npages
                self.nfree -= npages
                self._touch_run(start, npages)
                return start << PAGE_SHIFT
            start -= align
        return None

    def incref(self, pa):
        pfn = pa >> PAGE_SHIFT
        if not self.first <= pfn < self.end or self.ref[pfn] == 0:
            raise FrameError(f"incref: frame {pa:#x} is not allocated")
        self.ref[pfn] += 1
        if self.touched is not None:
            self.touched.add(pfn)

    def _touch_run(self, pfn, n):
        if self.touched is not None:
            self.touched.update(range(pfn, pfn + n))

    def incref_pfns(self, pfns):
        """One more reference on each frame numbered in pfns (an array("I")
        that may repeat a frame); 0 stands for no frame (frame 0 is never
        the allocator's). fork's bulk path, unchecked: each run of
        consecutive frame numbers is one big-integer addition over that
        slice of the counts (C-speed); many short runs, one loop."""
        ref, runs = self.ref, consecutive_runs(pfns)
        if self.touched is not None:
            self.touched.update(pfns)
            self.touched.discard(0)
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
        if self.touched is not None:
            self.touched.add(pfn)
        if self.ref[pfn] == 0:
            self.free_map[pfn] = 1
            self.nfree += 1
            self.low = min(self.low, pfn)
            self.reused = True
        return self.ref[pfn]

    def incref_run(self, pa, n):
        """One more reference on each of n allocated frames from pa (a
        large page's: all with the same count, so one slice assignment)."""
        a, b = pa >> PAGE_SHIFT, (pa >> PAGE_SHIFT) + n
        if not self.first <= a < b <= self.end:
            raise FrameError(f"incref_run: {pa:#x}+{n} frames not managed")
        c = self.ref[a]
        if c == 0 or self.ref[a:b].count(c) != n:
            for k in range(n):
                self.incref(pa + (k << PAGE_SHIFT))
            return
        self.ref[a:b] = array("I", [c + 1]) * n
        self._touch_run(a, n)

    def decref_run(self, pa, n):
        """Drop one reference on each of n frames from pa; the run is freed
        when the count reaches zero (same fast path as incref_run)."""
        a, b = pa >> PAGE_SHIFT, (pa >> PAGE_SHIFT) + n
        if not self.first <= a < b <= self.end:
            raise FrameError(f"decref_run: {pa:#x}+{n} frames not managed")
        c = self.ref[a]
        if c == 0 or self.ref[a:b].count(c) != n:
            for k in range(n):
                self.decref(pa + (k << PAGE_SHIFT))
            return
        self.ref[a:b] = array("I", [c - 1]) * n
        self._touch_run(a, n)
        if c == 1:
            self.free_map[a:b] = b"\x01" * n
            self.nfree += n
            self.low = min(self.low, a)
            self.reused = True

    def refcount(self, pa):
        return self.ref[pa >> PAGE_SHIFT]

    def problems(self):
        """The allocator's own invariants, as (invariant, detail) pairs:
        the free count matches the map, no free frame has a count, every
        frame with count 0 is free, nothing below the hint `low` is free."""
        out = []
        refs = self.ref[self.first:self.end]
        fmap = self.free_map[self.first:self.end]
        mapped = fmap.count(1)
        if any(self.free_map[:self.first]):
            out.append(("only managed frames are free", "a kernel frame is"))
        if mapped != self.nfree:
            out.append(("free count matches the free map",
                        f"count {self.nfree}, map {mapped}"))
        busy = next(compress(range(self.first, self.end), map(mul, refs, fmap)),
                    None)
        if busy is not None:
            out.append(("no frame both free and in use",
                        f"frame {busy << PAGE_SHIFT:#x} is free with count "
                        f"{self.ref[busy]}"))
        elif mapped < refs.count(0):
            lost = next(pfn for pfn in range(self.first, self.end)
                        if not self.ref[pfn] and not self.free_map[pfn])
            out.append(("every frame is free or in use",
                        f"frame {lost << PAGE_SHIFT:#x} is neither"))
        if self.free_map.find(1, self.first, self.low) >= 0:
            out.append(("no free frame below the allocation hint",
                        f"hint {self.low << PAGE_SHIFT:#x}"))
        return out


def merge_runs(items, step=PAGE_SIZE):
    """[[first, count, key]]: the (first, count, key) items, in order, each
    merged into the run before it when it has the same key and starts where
    that run ends (first + count * step); a first of None (nothing there)
    merges into a run of None. For frames step is PAGE_SIZE, for page
    numbers 1."""
    out = []
    for first, n, key in items:
        last = out[-1] if out else None
        if last and last[2] == key and (last[0] is None) == (first is None) \
                and (first is None or first == last[0] + last[1] * step):
            last[1] += n
        else:
            out.append([first, n, key])
    return out


_NONZERO = bytes([0] + [1] * 255)


def consecutive_runs(pfns):
    """merge_runs for an array("I") of frame numbers at C speed (fork's
    bulk path): [(first, count)] found with big-integer lanes (one 32-bit
    lane per number); None when the runs are so many that a plain loop is
    cheaper."""
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


def lanes(n, bits=32, _cache={}):
    """An integer with a 1 in the low bit of each of n lanes of bits bits
    (for operations on many 32- or 64-bit entries at once). The lookup
    and the fill of the cache share one line, so the kernel lines a call
    reaches (the guided fuzzer's coverage) are the same whether or not
    this process computed the value before."""
    key, per = (n, bits), (1 << bits) - 1
    return _cache.get(key) or _cache.setdefault(key, (1 << bits * n) // per)
