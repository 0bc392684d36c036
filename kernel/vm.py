"""Address spaces: a page directory and its page tables in guest RAM.

Only this module writes PDEs and PTEs. Processes and shared memory ask it to
map or unmap ranges; every user pointer the kernel follows goes through
copyin/copyout here, which walk this address space's own tables with the
same walker the trace uses and check P, U and (for writes) W.
"""

from array import array
from dataclasses import dataclass, field
from typing import Callable, Optional

from emu import x86
from emu.walk import READ, WRITE, walk
from emu.x86 import (NPTENTRIES, PAGE_SIZE, PTE_ADDR, PTE_P, PTE_U, PTE_W,
                     pdx, ptx)
from kernel.memlayout import USER_END, USER_LOW

TLB_ENTRIES = 4096               # the kernel's own TLB: at most this many


class NoMemory(Exception):
    """Physical memory ran out."""


class UserFault(Exception):
    """A user pointer the caller may not use for this access (-EFAULT)."""

    def __init__(self, va, walk_):
        super().__init__(f"bad user address {va:#x}")
        self.va = va
        self.walk = walk_


def table_runs(va, npages):
    """Split npages pages from va by page table: (index of the first page,
    its address, how many pages) for each table the range touches."""
    i = 0
    while i < npages:
        a = va + i * PAGE_SIZE
        n = min(npages - i, NPTENTRIES - ptx(a))
        yield i, a, n
        i += n


@dataclass
class Region:
    """A mapped range [start, end) and what backs it.

    pager(region, va) returns the frame for a page not yet present (taking
    a reference the new PTE will own), or None; detach(region) runs when the
    range is unmapped.
    """
    start: int
    end: int
    writable: bool
    kind: str                    # "image", "stack", "shm"
    pager: Optional[Callable] = None
    detach: Optional[Callable] = None
    obj: object = None           # the segment, for shm
    tag: str = ""

    def contains(self, va):
        return self.start <= va < self.end


@dataclass
class VM:
    """What every address space shares: the machine, frames, kernel half."""
    hw: object
    frames: object
    kernel_half: bytes           # PDEs 768..1023, identical everywhere
    on_tables_changed: Callable = lambda aspace: None
    on_code_written: Callable = lambda aspace, pages, shared: None
    stats: dict = field(default_factory=lambda: {"ptes_written": 0})
    tracer: object = None        # kernel.trace.Tracer, told of PTE changes
    zeroed: Optional[list] = None   # when a list, alloc_zeroed logs into it

    def alloc_zeroed(self):
        """A fresh zero-filled frame, or NoMemory."""
        pa = self.frames.alloc()
        if pa is None:
            raise NoMemory()
        self.hw.zero(pa, PAGE_SIZE)
        if self.zeroed is not None:
            self.zeroed.append(pa)
        if self.frames.reused:
            self.frames.reused = False
            self.hw.flush_code()   # a freed frame may hold translated code
        return pa


class AddressSpace:
    """One process's page directory, its page tables and its regions."""

    def __init__(self, vm):
        self.vm = vm
        self.pd = vm.alloc_zeroed()
        vm.hw.write(self.pd + 4 * 768, vm.kernel_half)
        self.tables = {}         # pdx -> physical address of the page table
        self.regions = []
        self.tlb = {}            # (page number, access) -> frame: the
        # kernel's own TLB for copy-in/copy-out, filled by the walker and
        # flushed whenever a PTE is cleared (a new PTE only fills a miss)

    # -- page tables -----------------------------------------------------
    def tables_needed(self, va, npages):
        """How many new page tables mapping npages at va would take."""
        first, last = pdx(va), pdx(va + npages * PAGE_SIZE - 1)
        return sum(1 for i in range(first, last + 1) if i not in self.tables)

    def _table(self, i):
        pt = self.tables.get(i)
        if pt is None:
            pt = self.vm.alloc_zeroed()
            self.tables[i] = pt
            self.vm.hw.write32(self.pd + 4 * i, pt | PTE_P | PTE_W | PTE_U)
        return pt

    def map_pages(self, va, frames, flags):
        """Point PTEs for len(frames) pages at va to frames, one physical
        write per page table touched. Each PTE owns one reference, which
        the caller has already taken."""
        pt = self.tables.get(pdx(va))
        if len(frames) == 1 and pt is not None:     # the demand-paging path
            self.vm.hw.write32(pt + 4 * ptx(va), frames[0] | flags)
        else:
            self._map_bulk(va, frames, flags)
        self.vm.stats["ptes_written"] += len(frames)
        if self.vm.tracer:
            self.vm.tracer.mapped(self, va, len(frames))

    def _map_bulk(self, va, frames, flags):
        if len(self.vm.frames.free) < self.tables_needed(va, len(frames)):
            raise NoMemory()
        for i, a, n in table_runs(va, len(frames)):
            ents = array("I", [pa | flags for pa in frames[i:i + n]])
            self.vm.hw.write(self._table(pdx(a)) + 4 * ptx(a), ents.tobytes())

    def unmap_pages(self, va, npages):
        """Clear npages PTEs at va, dropping each present frame's reference."""
        self.tlb.clear()
        hw, frames = self.vm.hw, self.vm.frames
        for _, a, n in table_runs(va, npages):
            pt = self.tables.get(pdx(a))
            if pt is None:
                continue
            off = pt + 4 * ptx(a)
            ents = array("I", hw.read(off, 4 * n))
            if self.vm.tracer:
                self.vm.tracer.unmapping(self, a, ents)
            for e in ents:
                if e & PTE_P:
                    frames.decref(e & PTE_ADDR)
            hw.zero(off, 4 * n)
        self.vm.on_tables_changed(self)

    def ptes(self, va, npages):
        """The raw PTEs of npages pages from va (0 where no table), read
        one page table at a time."""
        out, hw = array("I"), self.vm.hw
        for _, a, n in table_runs(va, npages):
            pt = self.tables.get(pdx(a))
            out += array("I", hw.read(pt + 4 * ptx(a), 4 * n)) if pt \
                else array("I", bytes(4 * n))
        return out

    def pte(self, va):
        """The raw PTE for va (0 when its page table does not exist)."""
        pt = self.tables.get(pdx(va))
        return 0 if pt is None else self.vm.hw.read32(pt + 4 * ptx(va))

    # -- regions ---------------------------------------------------------
    def region_at(self, va):
        for r in self.regions:
            if r.contains(va):
                return r
        return None

    def is_free(self, start, end):
        """True when [start, end) is user space overlapping no region."""
        if start < USER_LOW or end > USER_END or start >= end:
            return False
        return all(end <= r.start or start >= r.end for r in self.regions)

    def add_region(self, region):
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.start)

    def remove_region(self, region):
        """Unmap a region's pages and forget it."""
        self.unmap_pages(region.start, (region.end - region.start) // PAGE_SIZE)
        self.regions.remove(region)
        if region.detach:
            region.detach(region)

    def destroy(self):
        """Unmap everything and free the page tables and directory."""
        for r in list(self.regions):
            self.remove_region(r)
        for pt in self.tables.values():
            self.vm.frames.decref(pt)
        self.vm.frames.decref(self.pd)
        self.tables.clear()

    # -- demand paging and user memory -----------------------------------
    def fault_in(self, va, write):
        """Satisfy a not-present access at va from its region's pager.
        Returns True when a PTE was filled (the access may be retried)."""
        r = self.region_at(va)
        if r is None or r.pager is None or (write and not r.writable):
            return False
        page = x86.pgrounddown(va)
        if self.pte(page) & PTE_P:
            return False
        pa = r.pager(r, page)
        if pa is None:
            raise NoMemory()
        try:
            self.map_pages(page, [pa], PTE_P | PTE_U |
                           (PTE_W if r.writable else 0))
        except NoMemory:             # no frame for the page table: give
            self.vm.frames.decref(pa)  # back the PTE's reference
            raise
        return True

    def walk(self, va, access=READ, user=True):
        return walk(self.vm.hw.read32, self.pd, va, access, user)

    def translate(self, va, access):
        """Physical address of user va for access, faulting in demand-zero
        pages as the CPU would; raises UserFault when the user may not (or
        when no frame is left for a demand-zero page: the ABI gives the
        copying calls -EFAULT, not -ENOMEM)."""
        frame = self.tlb.get((va >> 12, access))
        if frame is not None:
            return frame | (va & (PAGE_SIZE - 1))
        w = self.walk(va, access)
        if w.ok:
            if len(self.tlb) >= TLB_ENTRIES:      # bounded, whatever the
                self.tlb.clear()                  # lengths user calls pass
            self.tlb[(va >> 12, access)] = w.pa & PTE_ADDR
            return w.pa
        try:
            filled = not w.error_code & x86.PF_P and \
                self.fault_in(va, access == WRITE)
        except NoMemory:
            raise UserFault(va, w) from None
        if filled:
            w = self.walk(va, access)
            if w.ok:
                return w.pa
        raise UserFault(va, w)

    def pages(self, va, n, access):
        """Yield (pa, length) covering user [va, va+n) page by page, each
        page walked once; raises UserFault at the first page that does not
        allow access (earlier ones have been yielded). Holds nothing: any
        length costs bounded host memory. An empty range is always allowed."""
        if n and va + n > 1 << 32:
            raise UserFault(va, None)
        while n > 0:
            length = min(n, PAGE_SIZE - (va & (PAGE_SIZE - 1)))
            yield self.translate(va, access), length
            va, n = va + length, n - length

    def chunks(self, va, n, access):
        """[(pa, length)] of pages(): all of [va, va+n) allows access, or
        UserFault, having copied nothing (for short ranges)."""
        return list(self.pages(va, n, access))

    def check(self, va, n, access):
        """Raise UserFault unless all of [va, va+n) allows access."""
        for _ in self.pages(va, n, access):
            pass

    def copyin(self, va, n):
        """Read n bytes of user memory at va."""
        mem = self.vm.hw.mem
        return b"".join(mem[pa:pa + length]
                        for pa, length in self.chunks(va, n, READ))

    def copyout(self, va, data):
        """Write data to user memory at va, all or nothing. Translated code
        of the pages written is then stale wherever it was translated (a
        recv may bring in instructions): the kernel is told, to invalidate
        it on every CPU before they run this code again."""
        mem, i, frames = self.vm.hw.mem, 0, self.vm.frames
        pages, shared = [], False
        for pa, length in self.chunks(va, len(data), WRITE):
            mem[pa:pa + length] = data[i:i + length]
            pages.append(x86.pgrounddown(va + i))
            shared = shared or frames.refcount(pa) > 1
            i += length
        if pages:
            self.vm.on_code_written(self, pages, shared)
