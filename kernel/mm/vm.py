"""Address spaces: page directories and page tables in guest RAM.

Only this module writes PDEs and PTEs. Processes and shared memory ask it to
map or unmap ranges; every user pointer the kernel follows goes through
copyin/copyout here, which walk this address space's own tables with the
same walker the trace uses and check P, U and (for writes) W.

Copy-on-write is a PTE state: present, not writable, PTE_COW set (a bit the
MMU ignores). fork() puts every private writable page of both address spaces
in that state; break_cow() resolves a write to such a page, for the CPU's
write fault and for the kernel's own copy-out alike: the last PTE naming the
frame gets W back, any other gets a copy of the frame.

Both paging modes run through the same code (emu.x86.PagingMode, folded):
an address space is a flat array of PDEs spread over `dirs` (one page
directory under 32-bit paging; four under PAE, named by a four-entry PDPT
that CR3 points at), indexed by mode.dirx(va); each PDE names a page table
of mode.ptes_per_table entries of mode.entry_size bytes. Leaf flags come
from leaf_flags(), which adds NX where the mode has it.
"""

import enum
from array import array
from dataclasses import dataclass, field
from typing import Callable, Optional

from emu import x86
from emu.walk import READ, WRITE, walk
from emu.x86 import (PAGE_SIZE, PF_P, PTE_A, PTE_COW, PTE_D,
                     PTE_P, PTE_U, PTE_W)
from kernel.events import Hooks
from kernel.memlayout import KERNBASE, USER_END, USER_LOW
from kernel.mm.frames import lanes


class RegionKind(enum.Enum):
    """What backs a region; the value is the name maps and dumps print."""
    IMAGE = "image"              # the program's pages
    STACK = "stack"
    SHM = "shm"                  # a shm attachment
    SHARED = "shared"            # frames premapped into several processes


SHARED_KINDS = (RegionKind.SHM, RegionKind.SHARED)

TLB_ENTRIES = 4096     # the most translations the kernel's own TLB keeps


class NoMemory(Exception):
    """Physical memory ran out."""


class UserFault(Exception):
    """A user pointer the caller may not use for this access (-EFAULT)."""

    def __init__(self, va, walk_):
        super().__init__(f"bad user address {va:#x}")
        self.va = va
        self.walk = walk_


def table_runs(va, npages, mode):
    """Split npages pages from va by page table: (index of the first page,
    its address, how many pages) for each table the range touches."""
    i, per = 0, mode.ptes_per_table
    while i < npages:
        a = va + i * PAGE_SIZE
        n = min(npages - i, per - mode.tabx(a))
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
    kind: RegionKind
    pager: Optional[Callable] = None
    detach: Optional[Callable] = None
    share: Optional[Callable] = None
    obj: object = None           # the segment, for shm
    tag: str = ""
    executable: bool = True      # False: NX in every leaf (where the mode has NX)
    page_size: int = PAGE_SIZE   # the mode's large_size: PDE leaves (shm)

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
    kernel_half: bytes           # the kernel's PDEs, identical everywhere
    mode: object                 # emu.x86.PagingMode
    on_tables_changed: Callable = lambda aspace, why, old=(): None
    # translations of aspace were removed or reduced (why: the change;
    # old: the (va, frame) pairs they gave, listed only while want_old)
    on_code_written: Callable = lambda aspace, pages, shared: None
    stats: dict = field(default_factory=lambda: {
        "ptes_written": 0, "cow_faults": 0, "cow_copies": 0})
    hooks: object = field(default_factory=Hooks)   # the kernel's (events)
    want_old: bool = False          # list old translations (staletlb)
    zeroed: Optional[list] = None   # when a list, alloc_zeroed logs into it
    dirty: Optional[list] = None    # when a list, every PTE write logs
    # (aspace, va, npages) into it, and every other change to an address
    # space's tables (aspace, va, 0) (for an incremental checker)

    def __post_init__(self):
        """Entry accessors of the mode's width, bound once."""
        wide = self.mode.entry_size == 8
        self.read_entry = self.hw.read64 if wide else self.hw.read32
        self.write_entry = self.hw.write64 if wide else self.hw.write32

    @property
    def space_frames(self):
        """Frames a new, empty address space takes: its directories, and
        the PDPT under PAE."""
        return self.mode.ndirs + (1 if self.mode.pde_level else 0)

    def leaf_flags(self, writable, executable=True):
        """A user leaf's flag bits: P, U, W when writable, and NX when not
        executable and the mode has an NX bit (else nothing: 32-bit paging
        executes whatever it can read)."""
        return (PTE_P | PTE_U | (PTE_W if writable else 0)
                | (0 if executable else self.mode.nx))

    def prot_flags(self, prot):
        """A user leaf's flag bits for mprotect's PROT bits (1 read, 2
        write, 4 execute; write or execute imply read): no access is a
        present leaf without U, so that a touch faults and the frame stays."""
        if not prot:
            return PTE_P | self.mode.nx
        return self.leaf_flags(bool(prot & 2), bool(prot & 4))

    def alloc_zeroed(self):
        """A fresh zero-filled frame, or NoMemory."""
        pa = self._alloc()
        self.hw.zero(pa, PAGE_SIZE)
        if self.zeroed is not None:
            self.zeroed.append(pa)
        self.forget_code()
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
        frame may be a freed one that held code: docs/unicorn.md fact 2)."""
        pa = self._alloc()
        mem = self.hw.mem
        mem[pa:pa + PAGE_SIZE] = mem[src:src + PAGE_SIZE]
        return pa

    def _alloc(self):
        pa = self.frames.alloc()
        if pa is None:
            raise NoMemory()
        return pa

    def forget_code(self):
        """After RAM writes into a new frame: a freed frame may hold code a
        CPU translated, which RAM writes never invalidate (docs/unicorn.md 2)."""
        if self.frames.reused:
            self.frames.reused = False
            self.hw.flush_code()


class AddressSpace:
    """One process's page directories (and PDPT), page tables and regions.
    `pd` is what CR3 holds: the page directory, or under PAE the PDPT."""

    def __init__(self, vm):
        self.vm = vm
        mode = vm.mode
        if vm.frames.nfree < vm.space_frames:
            raise NoMemory()
        self.dirs = [vm.alloc_table() for _ in range(mode.ndirs)]
        self.pd = self.dirs[0]
        if mode.pde_level:               # PAE: a PDPT names the directories
            self.pd = vm.alloc_table()   # below 4 GiB, as CR3 must be
            for k, d in enumerate(self.dirs):
                vm.write_entry(self.pd + mode.entry_size * k, d | PTE_P)
        vm.hw.write(self.pde_addr(mode.dirx(KERNBASE)), vm.kernel_half)
        self.tables = {}         # dirx -> physical address of the page table
        self.regions = []
        self.prot = {}           # page (or large page) -> mprotect's PROT
        #                          bits, where they replace the region's
        self.tlb = {}            # (page number, access) -> frame: the
        # kernel's own TLB for copy-in/copy-out, filled by the walker and
        # flushed whenever a PTE is cleared (a new PTE only fills a miss)

    # -- page tables -----------------------------------------------------
    def pde_addr(self, d):
        """Physical address of PDE d of the flat PDE array."""
        mode = self.vm.mode
        return (self.dirs[d // mode.per_dir]
                + mode.entry_size * (d % mode.per_dir))

    def pde(self, d):
        return self.vm.read_entry(self.pde_addr(d))

    def table_frames(self):
        """Every frame this space's paging structures use: directories, the
        PDPT under PAE, page tables."""
        top = [self.pd] if self.pd not in self.dirs else []
        return top + self.dirs + list(self.tables.values())

    def tables_needed(self, va, npages):
        """How many new page tables mapping npages at va would take."""
        dirx = self.vm.mode.dirx
        first, last = dirx(va), dirx(va + npages * PAGE_SIZE - 1)
        return sum(1 for i in range(first, last + 1) if i not in self.tables)

    def _table(self, i):
        pt = self.tables.get(i)
        if pt is None:
            pt = self.vm.alloc_table()
            self.tables[i] = pt
            self.vm.write_entry(self.pde_addr(i), pt | PTE_P | PTE_W | PTE_U)
        return pt

    def _pte_addr(self, va):
        """Physical address of va's PTE, or None without a page table."""
        mode = self.vm.mode
        pt = self.tables.get(mode.dirx(va))
        return None if pt is None else pt + mode.entry_size * mode.tabx(va)

    def map_pages(self, va, frames, flags):
        """Point PTEs for len(frames) pages at va to frames, one physical
        write per page table touched. Each PTE owns one reference, which
        the caller has already taken."""
        addr = self._pte_addr(va)
        if len(frames) == 1 and addr is not None:   # the demand-paging path
            self.vm.write_entry(addr, frames[0] | flags)
        else:
            self._map_bulk(va, frames, flags)
        self.vm.stats["ptes_written"] += len(frames)
        if self.vm.dirty is not None:
            self.vm.dirty.append((self, va, len(frames)))
        if self.vm.hooks.pte_mapped:
            for fn in self.vm.hooks.pte_mapped:
                fn(self, va, len(frames))

    def _map_bulk(self, va, frames, flags):
        if self.vm.frames.nfree < self.tables_needed(va, len(frames)):
            raise NoMemory()
        mode = self.vm.mode
        for i, a, n in table_runs(va, len(frames), mode):
            ents = array(mode.typecode, [pa | flags for pa in frames[i:i + n]])
            self.vm.hw.write(self._table(mode.dirx(a))
                             + mode.entry_size * mode.tabx(a), ents.tobytes())

    def unmap_pages(self, va, npages):
        """Clear npages PTEs at va; once every CPU has flushed them, drop
        each present frame's reference."""
        self.tlb.clear()
        hw, frames, mode = self.vm.hw, self.vm.frames, self.vm.mode
        size, addr_mask = mode.entry_size, mode.addr_mask
        if self.vm.dirty is not None:
            self.vm.dirty.append((self, va, npages))
        gone, old = [], []
        for _, a, n in table_runs(va, npages, mode):
            off = self._pte_addr(a)
            if off is None:
                continue
            ents = array(mode.typecode, hw.read(off, size * n))
            if self.vm.hooks.pte_unmapping:
                for fn in self.vm.hooks.pte_unmapping:
                    fn(self, a, ents)
            gone += [e & addr_mask for e in ents if e & PTE_P]
            if self.vm.want_old:
                old += [(a + j * PAGE_SIZE, e & addr_mask)
                        for j, e in enumerate(ents) if e & PTE_P]
            hw.zero(off, size * n)
        self.vm.on_tables_changed(self, "unmap", old)
        for pa in gone:
            frames.decref(pa)

    def ptes(self, va, npages):
        """The raw PTEs of npages pages from va (0 where no table), read
        one page table at a time."""
        mode, hw = self.vm.mode, self.vm.hw
        out, size = array(mode.typecode), mode.entry_size
        for _, a, n in table_runs(va, npages, mode):
            off = self._pte_addr(a)
            out += array(mode.typecode, hw.read(off, size * n)
                         if off is not None else bytes(size * n))
        return out

    def pte(self, va):
        """The raw PTE for va (0 when its page table does not exist)."""
        addr = self._pte_addr(va)
        return 0 if addr is None else self.vm.read_entry(addr)

    def frame_of(self, va):
        """The physical address va's page maps to (through a PTE or a
        large-page PDE leaf), or None when it is not present."""
        mode = self.vm.mode
        pte = self.pte(va)
        if pte & PTE_P:
            return pte & mode.addr_mask
        pde = self.pde(mode.dirx(va))
        if pde & (PTE_P | x86.PTE_PS) == PTE_P | x86.PTE_PS:
            return mode.large_pa(pde, va) & ~(PAGE_SIZE - 1)
        return None

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
        """Unmap a region's pages and forget it (and mprotect's rights
        there)."""
        for va in [va for va in self.prot if region.contains(va)]:
            del self.prot[va]
        if region.page_size > PAGE_SIZE:
            self.unmap_large(region.start, region.end)
        else:
            self.unmap_pages(region.start,
                             (region.end - region.start) // PAGE_SIZE)
        self.regions.remove(region)
        if region.detach:
            region.detach(region)

    def destroy(self):
        """Unmap everything and free the page tables and directory."""
        for r in list(self.regions):
            self.remove_region(r)
        for f in self.table_frames():
            self.vm.frames.decref(f)
        self.tables.clear()
        if self.vm.dirty is not None:
            self.vm.dirty.append((self, 0, 0))

    # -- fork and copy-on-write ------------------------------------------
    def fork(self):
        """A child address space naming this one's frames for every private
        region, copy-on-write in both: each present writable PTE loses W and
        gains PTE_COW, one physical write per page table on each side; no
        data frame is copied. Shared regions are left to their owner.
        Raises NoMemory, having changed nothing, when the child's directory
        and tables cannot all be had."""
        private = [r for r in self.regions if not r.shared]
        spans = table_spans(private, self.vm.mode)
        spans = {i: s for i, s in spans.items() if i in self.tables}
        if self.vm.frames.nfree < self.vm.space_frames + len(spans):
            raise NoMemory()
        child = AddressSpace(self.vm)
        child.prot = {va: prot for va, prot in self.prot.items()
                      if any(r.contains(va) for r in private)}
        for r in private:                    # first: traces name them
            child.add_region(r.copy())
            if r.share:
                r.share(r)
        self.tlb.clear()                     # cached WRITE entries are stale
        for i, runs in sorted(spans.items()):
            child._fork_table(self, i, runs)
        self.vm.on_tables_changed(self, "fork (copy-on-write)")
        return child

    def _fork_table(self, parent, i, runs):
        """Copy the private runs [(first, end) PTE index] of parent's page
        table i into a new table here, marking writable PTEs COW on both
        sides; each lane of a big integer is one PTE (C-speed, no loop over
        entries), only the reference counts loop over the runs' PTEs."""
        hw, src, mode = self.vm.hw, parent.tables[i], self.vm.mode
        bits = 8 * mode.entry_size
        v = int.from_bytes(hw.read(src, PAGE_SIZE), "little")
        mask = 0
        for j, end in runs:
            mask |= lanes(end - j, bits) << (bits * j)
        w = v & (v >> 1) & mask              # present and writable: 1 in bit 0
        if w:
            v = v & ~(w << 1) | (w << 9)     # W off, PTE_COW (bit 9) on
            hw.write(src, v.to_bytes(PAGE_SIZE, "little"))
        v &= mask * mode.entry_mask          # the child's: private lanes
        hw.write(self._table(i), v.to_bytes(PAGE_SIZE, "little"))
        every = lanes(mode.ptes_per_table, bits)
        pfn_mask = mode.addr_mask >> 12
        pfns = array("I", array(mode.typecode, ((v >> 12) & every * pfn_mask)
                                .to_bytes(PAGE_SIZE, "little")))  # 0: none
        for j, end in runs:                  # the child's PTEs own these
            self.vm.frames.incref_pfns(pfns[j:end])
        present = v & every                  # P bits
        if self.vm.dirty is not None:
            whole = (mode.page_va(i, 0), mode.ptes_per_table)
            self.vm.dirty += [(parent, *whole), (self, *whole)]
        self.vm.stats["ptes_written"] += present.bit_count() + w.bit_count()
        if self.vm.hooks.pte_forked:
            vas = [mode.page_va(i, j) for j, pfn in enumerate(pfns) if pfn]
            for fn in self.vm.hooks.pte_forked:
                fn(self, vas)

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
        addr_mask = self.vm.mode.addr_mask
        old, frames = pte & addr_mask, self.vm.frames
        new = old if frames.refcount(old) == 1 else self.vm.alloc_copy(old)
        self.tlb.clear()
        flags = pte & ~(addr_mask | PTE_COW | PTE_A | PTE_D) | PTE_W
        self.map_pages(page, [new], flags)
        self.vm.on_tables_changed(self, "copy-on-write break",
                                  [(page, old)] if new != old else [])
        if new != old:
            frames.decref(old)               # the reference this PTE owned
        self.vm.stats["cow_faults"] += 1
        self.vm.stats["cow_copies"] += new != old
        if self.vm.hooks.cow_broken:
            for fn in self.vm.hooks.cow_broken:
                fn(self, page, old, new)
        # CPUs may hold code translated at page from the frame: by the
        # processes that shared it (reused), or by a freed frame's last owner
        if new == old or self.vm.frames.reused:
            self.vm.on_code_written(self, [page], False)
        return new != old

    # -- access rights (mprotect) -----------------------------------------
    def flags_at(self, r, page):
        """The leaf flags of page (of region r): mprotect's, else r's."""
        return self.rights(page, self.vm.leaf_flags(r.writable, r.executable))

    def rights(self, page, flags):
        """The leaf flags mprotect gave page, else flags."""
        prot = self.prot.get(page)
        return flags if prot is None else self.vm.prot_flags(prot)

    def protect(self, pieces, prot):
        """Give every page of pieces ([(region, start, end)], the caller
        checked them) the rights prot, present leaves at once: a private
        frame others still name gets write as copy-on-write. One TLB
        shootdown for the whole call, before it returns; pages that become
        executable drop their translated code everywhere."""
        self.tlb.clear()
        old, pages = [], []
        for r, start, end in pieces:
            for page in range(start, end, r.page_size):
                self.prot[page] = prot
                if self._protect_leaf(r, page, prot, old) and prot & 4:
                    pages.append(page)
        if self.vm.dirty is not None:
            self.vm.dirty += [(self, start, (end - start) // PAGE_SIZE)
                              for _, start, end in pieces]
        self.vm.on_tables_changed(self, "mprotect", old)
        if pages:
            self.vm.on_code_written(self, pages,
                                    any(r.shared for r, _, _ in pieces))

    def _protect_leaf(self, r, page, prot, old):
        """Rewrite page's leaf (a PTE, or a large page's PDE) for prot;
        note in old the (va, frame) it reduced. True when present."""
        mode = self.vm.mode
        large = r.page_size > PAGE_SIZE
        addr = self.pde_addr(mode.dirx(page)) if large else \
            self._pte_addr(page)
        e = self.vm.read_entry(addr) if addr is not None else 0
        if not e & PTE_P:
            return False
        keep = e & (mode.addr_mask | PTE_A | PTE_D | x86.PTE_PS)
        flags = self.vm.prot_flags(prot)
        frame = e & mode.addr_mask
        if flags & PTE_W and not r.shared and (
                e & PTE_COW or self.vm.frames.refcount(frame) > 1):
            flags = flags & ~PTE_W | PTE_COW
        new = keep | flags
        if new != e:
            self.vm.write_entry(addr, new)
            self.vm.stats["ptes_written"] += 1
            if self.vm.want_old:
                old.append((page, frame))
        return True

    # -- demand paging and user memory -----------------------------------
    # -- large pages: the PDE is the leaf ------------------------------------
    def map_large(self, va, pa, flags):
        """Make the PDE for the large page at va (aligned) a leaf naming the
        aligned contiguous frames from pa. The leaf owns one reference on
        each 4 KiB frame it covers, which the caller has already taken. An
        empty page table left there by an earlier mapping is freed."""
        mode = self.vm.mode
        d = mode.dirx(va)
        old = self.tables.pop(d, None)
        if old is not None:              # no region overlaps: no PTE in it
            self.vm.frames.decref(old)
        self.vm.write_entry(self.pde_addr(d), pa | flags | x86.PTE_PS)
        self.vm.stats["ptes_written"] += 1
        if self.vm.dirty is not None:
            self.vm.dirty.append((self, va, 0))
        if self.vm.hooks.pte_mapped:
            for fn in self.vm.hooks.pte_mapped:
                fn(self, va, 1)

    def unmap_large(self, start, end):
        """Clear the large-page leaves of [start, end); once every CPU has
        flushed them, drop each leaf's reference on every frame it covers."""
        self.tlb.clear()
        mode, frames = self.vm.mode, self.vm.frames
        if self.vm.dirty is not None:
            self.vm.dirty.append((self, start, 0))
        gone = []
        for va in range(start, end, mode.large_size):
            addr = self.pde_addr(mode.dirx(va))
            e = self.vm.read_entry(addr)
            if not e & PTE_P:
                continue
            if self.vm.hooks.pte_unmapping:
                for fn in self.vm.hooks.pte_unmapping:
                    fn(self, va, [e])
            gone.append((va, mode.large_pa(e, 0)))
            self.vm.write_entry(addr, 0)
        old = [(va + i * PAGE_SIZE, pa + i * PAGE_SIZE) for va, pa in gone
               for i in range(mode.large_pages)] if self.vm.want_old else []
        self.vm.on_tables_changed(self, "unmap", old)
        for _, pa in gone:
            frames.decref_run(pa, mode.large_pages)

    def _fault_in_large(self, r, va):
        """fault_in for a region of large pages: one PDE leaf."""
        mode = self.vm.mode
        page = va & ~(mode.large_size - 1)
        if self.pde(mode.dirx(page)) & PTE_P:
            return False
        pa = r.pager(r, page)
        if pa is None:
            raise NoMemory()
        self.map_large(page, pa, self.flags_at(r, page))
        return True

    def fault_in(self, va, write):
        """Satisfy a not-present access at va from its region's pager.
        Returns True when a PTE was filled (the access may be retried)."""
        r = self.region_at(va)
        if r is None or r.pager is None or (write and not r.writable):
            return False
        page = va & ~(r.page_size - 1)
        prot = self.prot.get(page)
        if prot is not None and (not prot or (write and not prot & 2)):
            return False
        if r.page_size > PAGE_SIZE:
            return self._fault_in_large(r, va)
        if self.pte(page) & PTE_P:
            return False
        pa = r.pager(r, page)
        if pa is None:
            raise NoMemory()
        try:
            self.map_pages(page, [pa], self.flags_at(r, page))
        except NoMemory:             # no frame for the page table: give
            self.vm.frames.decref(pa)  # back the PTE's reference
            raise
        return True

    def walk(self, va, access=READ, user=True):
        return walk(self.vm.hw.read32, self.pd, va, access, user,
                    mode=self.vm.mode)

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
            self._remember(va, access, w.pa)
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

    def _remember(self, va, access, pa):
        """Enter a translation in the kernel's TLB, which holds at most
        TLB_ENTRIES (bounded, whatever the lengths user calls pass)."""
        if len(self.tlb) >= TLB_ENTRIES:
            self.tlb.clear()
        self.tlb[(va >> 12, access)] = pa & ~(PAGE_SIZE - 1)

    def chunks(self, va, n, access):
        """[(pa, length)] of pages() as one list, built by a plain loop (the
        hot path of every copy-in and copy-out; the kernel agent of
        kernel.mm.access): all of [va, va+n) allows access, or UserFault,
        having copied nothing (for short ranges)."""
        if 0 < n <= PAGE_SIZE - (va & (PAGE_SIZE - 1)) and va >> 32 == 0:
            return [(self.translate(va, access), n)]       # inside one page
        if n and va + n > 1 << 32:
            raise UserFault(va, None)
        out = []
        while n > 0:
            length = min(n, PAGE_SIZE - (va & (PAGE_SIZE - 1)))
            out.append((self.translate(va, access), length))
            va, n = va + length, n - length
        return out

    def held(self, va, n, access):
        """The physical address of [va, va+n) when the range lies inside
        one page the kernel's TLB holds for access (no walk needed), else
        None."""
        off = va & (PAGE_SIZE - 1)
        if 0 < n <= PAGE_SIZE - off:
            frame = self.tlb.get((va >> 12, access))
            if frame is not None:
                return frame | off
        return None

    def check(self, va, n, access):
        """Raise UserFault unless all of [va, va+n) allows access."""
        if self.held(va, n, access) is not None:
            return
        for _ in self.pages(va, n, access):
            pass

    def writable(self, va, n):
        """True when all of [va, va+n) may be written (check, as a bool:
        a call's -EFAULT test of a user pointer)."""
        try:
            self.check(va, n, WRITE)
        except UserFault:
            return False
        return True

    def copyin(self, va, n):
        """Read n bytes of user memory at va."""
        mem, pa = self.vm.hw.mem, self.held(va, n, READ)
        if pa is not None:
            return bytes(mem[pa:pa + n])
        return b"".join(mem[pa:pa + length]
                        for pa, length in self.chunks(va, n, READ))

    def copyout(self, va, data):
        """Write data to user memory at va, all or nothing (copyout_all)."""
        self.copyout_all(((va, data),))

    def copyout_all(self, items):
        """Write each (va, data) of items to user memory, all or nothing:
        every page is checked writable before the first byte is written.
        Translated code of the pages written is then stale wherever it was
        translated (a recv may bring in instructions): the kernel is told
        once, to invalidate it on every CPU before they run it again."""
        plans = []
        for va, data in items:
            pa = self.held(va, len(data), WRITE)
            plans.append((((pa, len(data)),) if pa is not None else
                           self.chunks(va, len(data), WRITE), va, data))
        mem, ref = self.vm.hw.mem, self.vm.frames.ref
        pages, shared = set(), False
        for where, va, data in plans:
            i = 0
            for pa, length in where:
                mem[pa:pa + length] = data[i:i + length]
                pages.add((va + i) & ~(PAGE_SIZE - 1))
                shared = shared or ref[pa >> 12] > 1
                i += length
        if pages:
            self.vm.on_code_written(self, pages, shared)


def table_spans(regions, mode):
    """dirx -> [(first, end) PTE index] covered by regions, per page table."""
    spans = {}
    for r in regions:
        npages = (r.end - r.start) // PAGE_SIZE
        for _, a, n in table_runs(r.start, npages, mode):
            spans.setdefault(mode.dirx(a), []).append(
                (mode.tabx(a), mode.tabx(a) + n))
    return spans
