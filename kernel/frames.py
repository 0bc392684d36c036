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
        """One more reference on each frame numbered in pfns (an iterable
        that may repeat a frame); 0 stands for no frame (frame 0 is never
        the allocator's). fork's bulk path: one tight loop, no checks."""
        ref = self.ref
        for pfn in pfns:
            ref[pfn] += 1
        ref[0] = 0

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
