"""Address spaces: a page directory and its page tables in guest RAM.

Only this module writes PDEs and PTEs. Processes and shared memory ask it to
map or unmap ranges; every user pointer the kernel follows goes through
copyin/copyout here, which walk this address space's own tables with the
same walker the trace uses and check P, U and (for writes) W.

Copy-on-write is a PTE state: present, not writable, PTE_COW set (a bit the
MMU ignores). fork() puts every private writable page of both address spaces
in that state; break_cow() resolves a write to such a page, for the CPU's
write fault and for the kernel's own copy-out alike: the last PTE naming the
frame gets W back, any other gets a copy of the frame.
"""

from array import array
from dataclasses import dataclass, field
from typing import Callable, Optional

from emu import x86
from emu.walk import READ, WRITE, walk
from emu.x86 import (NPTENTRIES, PAGE_SIZE, PF_P, PTE_A, PTE_ADDR, PTE_COW,
                     PTE_D, PTE_P, PTE_U, PTE_W, pdx, pgaddr, ptx)
from kernel.frames import lanes
from kernel.memlayout import USER_END, USER_LOW

TLB_ENTRIES = 4096               # the kernel's own TLB: at most this many


SHARED_KINDS = ("shm", "shared")   # "shared": tools/ipc_harness premaps


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
    share: Optional[Callable] = None
    obj: object = None           # the segment, for shm
    tag: str = ""

    def contains(self, va):
        return self.start <= va < self.end

    @property
    def shared(self):
        return self.kind in SHARED_KINDS

    def copy(self):
        """The same region, for another address space (fork)."""
        return Region(**self.__dict__)


@dataclass
class VM:
    """What every address space shares: the machine, frames, kernel half."""
    hw: object
    frames: object
    kernel_half: bytes           # PDEs 768..1023, identical everywhere
    on_tables_changed: Callable = lambda aspace: None
    on_code_written: Callable = lambda aspace, pages, shared: None
    stats: dict = field(default_factory=lambda: {
        "ptes_written": 0, "cow_faults": 0, "cow_copies": 0})
    tracer: object = None        # kernel.trace.Tracer, told of PTE changes
    zeroed: Optional[list] = None   # when a list, alloc_zeroed logs into it

    def alloc_zeroed(self):
        """A fresh zero-filled frame, or NoMemory."""
        pa = self._alloc()
        self.hw.zero(pa, PAGE_SIZE)
        if self.zeroed is not None:
            self.zeroed.append(pa)
        self._forget_code()
        return pa

    def alloc_table(self):
        """A zero-filled frame for a page directory or table: never mapped
        for the user, so never executed, so no code flush (a freed frame's
        stale code is dropped when a frame is next allocated for data)."""
        pa = self._alloc()
        self.hw.zero(pa, PAGE_SIZE)
        return pa

    def alloc_copy(self, src):
        """A fresh frame holding a copy of frame src, or NoMemory. The
        caller invalidates translated code of the page it maps it at (the
        frame may be a freed one that held code: UNICORN.md fact 2)."""
        pa = self._alloc()
        mem = self.hw.mem
        mem[pa:pa + PAGE_SIZE] = mem[src:src + PAGE_SIZE]
        return pa

    def _alloc(self):
        pa = self.frames.alloc()
        if pa is None:
            raise NoMemory()
        return pa

    def _forget_code(self):
        """After RAM writes into a new frame: a freed frame may hold code a
        CPU translated, which RAM writes never invalidate (UNICORN.md 2)."""
        if self.frames.reused:
            self.frames.reused = False
            self.hw.flush_code()


class AddressSpace:
    """One process's page directory, its page tables and its regions."""

    def __init__(self, vm):
        self.vm = vm
        self.pd = vm.alloc_table()
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
            pt = self.vm.alloc_table()
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

    # -- fork and copy-on-write ------------------------------------------
    def fork(self):
        """A child address space naming this one's frames for every private
        region, copy-on-write in both: each present writable PTE loses W and
        gains PTE_COW, one physical write per page table on each side; no
        data frame is copied. Shared regions are left to their owner.
        Raises NoMemory, having changed nothing, when the child's directory
        and tables cannot all be had."""
        private = [r for r in self.regions if not r.shared]
        spans = table_spans(private)
        spans = {i: s for i, s in spans.items() if i in self.tables}
        if self.vm.frames.nfree < 1 + len(spans):
            raise NoMemory()
        child = AddressSpace(self.vm)
        for r in private:                    # first: traces name them
            child.add_region(r.copy())
            if r.share:
                r.share(r)
        self.tlb.clear()                     # cached WRITE entries are stale
        for i, runs in sorted(spans.items()):
            child._fork_table(self, i, runs)
        self.vm.on_tables_changed(self)
        return child

    def _fork_table(self, parent, i, runs):
        """Copy the private runs [(first, end) PTE index] of parent's page
        table i into a new table here, marking writable PTEs COW on both
        sides; each lane of a big integer is one PTE (C-speed, no loop over
        entries), only the reference counts loop over the runs' PTEs."""
        hw, src = self.vm.hw, parent.tables[i]
        v = int.from_bytes(hw.read(src, PAGE_SIZE), "little")
        mask = 0
        for j, end in runs:
            mask |= lanes(end - j) << (32 * j)
        w = v & (v >> 1) & mask              # present and writable: 1 in bit 0
        if w:
            v = v & ~(w << 1) | (w << 9)     # W off, PTE_COW (bit 9) on
            hw.write(src, v.to_bytes(PAGE_SIZE, "little"))
        v &= mask * 0xFFFFFFFF               # the child's: private lanes
        hw.write(self._table(i), v.to_bytes(PAGE_SIZE, "little"))
        pfns = array("I", ((v >> 12) & lanes(NPTENTRIES) * 0xFFFFF)
                     .to_bytes(PAGE_SIZE, "little"))   # 0: no frame
        for j, end in runs:                  # the child's PTEs own these
            self.vm.frames.incref_pfns(pfns[j:end])
        present = v & lanes(NPTENTRIES)     # P bits
        self.vm.stats["ptes_written"] += present.bit_count() + w.bit_count()
        if self.vm.tracer:
            self.vm.tracer.forked(self, [pgaddr(i, j) for j, pfn in
                                         enumerate(pfns) if pfn])

    def break_cow(self, va):
        """Resolve a write to va's copy-on-write page: the last PTE naming
        its frame gets W back (reuse), any other a private copy; either way
        PTE_COW goes and every CPU caching this space flushes. Returns True
        when a frame was copied, False when reused, None when va's PTE is not
        copy-on-write. Raises NoMemory when no frame is left for the copy."""
        page = va & ~(PAGE_SIZE - 1)
        pte = self.pte(page)
        if pte & (PTE_P | PTE_COW) != PTE_P | PTE_COW:
            return None
        old, frames = pte & PTE_ADDR, self.vm.frames
        new = old if frames.refcount(old) == 1 else self.vm.alloc_copy(old)
        self.tlb.clear()
        flags = pte & ~(PTE_ADDR | PTE_COW | PTE_A | PTE_D) | PTE_W
        self.map_pages(page, [new], flags)
        if new != old:
            frames.decref(old)               # the reference this PTE owned
        self.vm.stats["cow_faults"] += 1
        self.vm.stats["cow_copies"] += new != old
        if self.vm.tracer:
            self.vm.tracer.cow_broken(self, page, old, new)
        self.vm.on_tables_changed(self)
        if new != old and self.vm.frames.reused:   # new may hold old code
            self.vm.on_code_written(self, [page], False)
        return new != old

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
            if not w.error_code & PF_P:
                filled = self.fault_in(va, access == WRITE)
            else:
                filled = access == WRITE and self.break_cow(va) is not None
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


def table_spans(regions):
    """pdx -> [(first, end) PTE index] covered by regions, per page table."""
    spans = {}
    for r in regions:
        npages = (r.end - r.start) // PAGE_SIZE
        for _, a, n in table_runs(r.start, npages):
            spans.setdefault(pdx(a), []).append((ptx(a), ptx(a) + n))
    return spans

