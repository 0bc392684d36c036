"""Shared memory segments (docs/abi.md calls 10-15).

A segment owns its frames: one kernel-owner reference each, taken when a
page is first touched (demand-zero; shm_create takes none). Each attachment
is a Region of kind "shm" in one address space whose PTEs name those same
frames, each PTE owning one more reference. Pages already touched are
mapped in bulk at attach time; the rest fault in through the region's
pager. This module never writes a PTE: it asks kernel.mm.vm.
"""

import struct
from array import array
from dataclasses import dataclass, field

from emu.x86 import PAGE_SHIFT, PAGE_SIZE, PTE_P, PTE_U, PTE_W, \
    pgroundup
from kernel.mm import hugetlb
from kernel.mm.frames import lanes
from kernel.mm.hugetlb import SHM_HUGETLB
from kernel.memlayout import MAX_SHM_BYTES, SHM_BASE, SHM_END
from kernel.syscall import Errno
from kernel.mm.vm import NoMemory, Region, RegionKind, UserFault

SHM_RDONLY = 1
SHM_EXEC = 2                     # executable (PAE; 32-bit runs everything)
MAX_SEGMENTS = 256               # live + destroyed-but-attached: -ENOSPC
QUOTA_NUM, QUOTA_DEN = 3, 4      # shm pages reserved <= 3/4 of RAM: -ENOMEM
STAT = struct.Struct("<6I")      # key, size, owner, mode, nattach, creator


@dataclass
class Attachment:
    """One mapping of a segment: in process pid, at [addr, addr + size)."""
    pid: int
    addr: int
    readonly: bool
    region: Region
    executable: bool = False


@dataclass
class Segment:
    """A shared memory segment; frames[i] is page i's frame, 0 until touched."""
    id: int
    key: int                     # 0: private, or once destroyed
    size: int                    # bytes, a multiple of PAGE_SIZE
    owner: int                   # uid
    mode: int                    # mode & 0o777
    creator: int                 # pid
    frames: array = None
    attachments: list = field(default_factory=list)
    destroyed: bool = False
    nframes: int = 0             # frames taken so far
    page_size: int = PAGE_SIZE   # a large page size: SHM_HUGETLB
    zeroed: bytearray = None     # large pages: touched yet (kernel.mm.hugetlb)

    def __post_init__(self):
        if self.frames is None:
            self.frames = array("I", bytes(4 * self.npages))

    @property
    def npages(self):
        return self.size >> PAGE_SHIFT

    def allows(self, uid, write):
        """Unix permission: owner bits for the owner, other bits for the
        rest, uid 0 always; read needed, write too when write is set."""
        if uid == 0:
            return True
        bits = (self.mode >> 6) & 7 if uid == self.owner else self.mode & 7
        need = 6 if write else 4
        return bits & need == need

    def touched_runs(self):
        """(first page, [frames]) for each run of touched pages."""
        if self.nframes == self.npages:
            return [(0, self.frames.tolist())] if self.nframes else []
        runs, cur = [], None
        for i, pa in enumerate(self.frames):
            if not pa:
                cur = None
            elif cur is None:
                cur = (i, [pa])
                runs.append(cur)
            else:
                cur[1].append(pa)
        return runs


class ShmTable:
    """Every segment by id (live, or destroyed but still attached), the key
    table, and the limits. One of the kernel's parts: report() adds
    `stats.shm_frames` to the run report."""

    def __init__(self, k):
        self.vm = k.vm
        self.notify = k.notify   # shm_frame, shm_detach, shm_free
        self.attached = k.shm_attached   # emits shm_attach
        self.segments = {}       # id -> Segment
        self.keys = {}           # nonzero key -> id of the live segment
        self.next_id = 1
        self.max_segments = MAX_SEGMENTS
        self.quota = k.frames.total * QUOTA_NUM // QUOTA_DEN
        self.reserved = 0        # pages of every segment in the table

    # -- the calls -------------------------------------------------------
    def create(self, p, key, size, mode):
        """shm_create: a new segment's id, or -errno (nothing changed)."""
        if not 1 <= size <= MAX_SHM_BYTES:
            return -Errno.EINVAL
        if key and key in self.keys:
            return -Errno.EEXIST
        if len(self.segments) >= self.max_segments:
            return -Errno.ENOSPC
        huge = bool(mode & SHM_HUGETLB)
        size = hugetlb.round_size(size, self.vm.mode) if huge else \
            pgroundup(size)
        if self.reserved + (size >> PAGE_SHIFT) > self.quota:
            return -Errno.ENOMEM
        seg = Segment(self.next_id, key, size, p.uid,
                      mode & (0o777 | SHM_HUGETLB), p.pid)
        if huge:
            seg.frames = hugetlb.reserve(self.vm, size)
            if seg.frames is None:
                return -Errno.ENOMEM
            seg.nframes, seg.page_size = seg.npages, self.vm.mode.large_size
            seg.zeroed = bytearray(size // seg.page_size)
        self.next_id += 1
        self.reserved += seg.npages
        self.segments[seg.id] = seg
        if key:
            self.keys[key] = seg.id
        return seg.id

    def lookup(self, key):
        """shm_lookup: the live segment named key (never key 0)."""
        seg_id = self.keys.get(key) if key else None
        return -Errno.ENOENT if seg_id is None else seg_id

    def attach(self, p, seg_id, addr, flags):
        """shm_attach: map the segment into p; checks in docs/abi.md's order."""
        seg = self.segments.get(seg_id)
        if seg is None:
            return -Errno.EINVAL
        if seg.destroyed:
            return -Errno.EIDRM
        readonly = bool(flags & SHM_RDONLY)
        if not seg.allows(p.uid, write=not readonly):
            return -Errno.EACCES
        start = self._place(p.aspace, addr, seg.size, seg.page_size)
        if start < 0:
            return start
        try:
            self._attach_at(p.aspace, p.pid, seg, start, readonly,
                            bool(flags & SHM_EXEC))
        except NoMemory:
            return -Errno.ENOMEM
        self.attached(p, seg, start)
        return start

    def inherit(self, parent, child, pid):
        """fork: attach in address space child (of process pid) every
        segment parent has attached, at the same address with the same
        flags; each segment gains an Attachment. Raises NoMemory; the caller
        then destroys child, which detaches what was attached."""
        for r in [r for r in parent.regions if r.kind is RegionKind.SHM]:
            self._attach_at(child, pid, r.obj, r.start, not r.writable,
                            r.executable)

    def _attach_at(self, aspace, pid, seg, start, readonly, executable):
        """Map seg at start in aspace and record the Attachment; raises
        NoMemory having changed nothing."""
        region = Region(start, start + seg.size, not readonly, RegionKind.SHM,
                        pager=self._pager, detach=self._detached, obj=seg,
                        tag=f"id {seg.id}", executable=executable,
                        page_size=seg.page_size)
        aspace.add_region(region)        # first, so the trace names it
        try:
            self._map_touched(aspace, seg, region)
        except NoMemory:                 # nothing was mapped
            aspace.regions.remove(region)
            raise
        seg.attachments.append(Attachment(pid, start, readonly, region,
                                          executable))

    def detach(self, p, addr):
        """shm_detach: unmap the attachment of p's that starts at addr."""
        r = p.aspace.region_at(addr)
        if r is None or r.kind is not RegionKind.SHM or r.start != addr:
            return -Errno.EINVAL
        p.aspace.remove_region(r)    # unmaps, flushes the TLB, _detached()
        return 0

    def destroy(self, p, seg_id):
        """shm_destroy: free the key now, the frames at the last detach."""
        seg = self.segments.get(seg_id)
        if seg is None:
            return -Errno.EINVAL
        if seg.destroyed:
            return -Errno.EIDRM
        if p.uid != 0 and p.uid != seg.owner:
            return -Errno.EPERM
        seg.destroyed = True
        if seg.key:
            del self.keys[seg.key]
            seg.key = 0
        if not seg.attachments:
            self._free(seg)
        return 0

    def stat(self, p, seg_id, buf):
        """shm_stat: six u32 at buf, copied out all or nothing."""
        seg = self.segments.get(seg_id)
        if seg is None:
            return -Errno.EINVAL
        data = STAT.pack(seg.key, seg.size, seg.owner, seg.mode,
                         len(seg.attachments), seg.creator)
        try:
            p.aspace.copyout(buf, data)
        except UserFault:
            return -Errno.EFAULT
        return 0

    # -- placement and mapping -------------------------------------------
    def _place(self, aspace, addr, size, align=PAGE_SIZE):
        """The start of the new attachment, or -errno: a fixed addr must be
        aligned (to the segment's page size), in user space and free; 0
        picks the first free aligned range of the shm window (-ENOMEM when
        none is left)."""
        if addr == 0:
            start = first_fit(aspace, size, SHM_BASE, SHM_END, align)
            return -Errno.ENOMEM if start is None else start
        if addr % align or not aspace.is_free(addr, addr + size):
            return -Errno.EINVAL
        return addr

    def _map_touched(self, aspace, seg, region):
        """Point PTEs at every page of seg already touched, one physical
        write per page table. Raises NoMemory, having changed nothing, when
        the page tables this needs cannot all be had."""
        if seg.page_size > PAGE_SIZE:
            return hugetlb.map_zeroed(self.vm, aspace, seg, region)
        runs, start, dirx = seg.touched_runs(), region.start, self.vm.mode.dirx
        tables = set()
        for i, pas in runs:
            first, last = start + (i << PAGE_SHIFT), \
                start + ((i + len(pas)) << PAGE_SHIFT) - 1
            tables.update(range(dirx(first), dirx(last) + 1))
        if len(tables - aspace.tables.keys()) > self.vm.frames.nfree:
            raise NoMemory()
        flags = self.vm.leaf_flags(region.writable, region.executable)
        frames = self.vm.frames
        for i, pas in runs:
            for pa in pas:
                frames.incref(pa)        # the reference each PTE owns
            aspace.map_pages(start + (i << PAGE_SHIFT), pas, flags)

    def _pager(self, region, va):
        """A not-present page of an attachment: the segment's frame for it,
        zero-filled on first touch, plus the reference the PTE will own."""
        seg = region.obj
        if seg.page_size > PAGE_SIZE:
            return hugetlb.pager(self.vm, seg, region, va)
        i = (va - region.start) >> PAGE_SHIFT
        pa = seg.frames[i]
        if not pa:
            pa = self.vm.alloc_zeroed()   # the segment's own reference
            seg.frames[i] = pa
            seg.nframes += 1
            self.notify("shm_frame", seg, i, pa)
        self.vm.frames.incref(pa)
        return pa

    def _detached(self, region):
        """vm has unmapped an attachment (detach or exit): forget it, and
        free a destroyed segment when it was the last."""
        seg = region.obj
        seg.attachments = [a for a in seg.attachments
                           if a.region is not region]
        self.notify("shm_detach", seg)
        if seg.destroyed and not seg.attachments:
            self._free(seg)

    def _free(self, seg):
        """Drop the segment's own reference on each of its frames."""
        self.notify("shm_free", seg)
        for pa in seg.frames:
            if pa:
                self.vm.frames.decref(pa)
        self.reserved -= seg.npages
        del self.segments[seg.id]

    # -- introspection (called by the kernel) ---------------------------
    def on_spawn(self, child):
        """A forked child's inherited attachments (ShmTable.inherit made
        them before it was a process) are announced as attaches now. (At
        exit there is nothing to do: the address space's destroy() removes
        each shm region, and _detached() runs for it.)"""
        for r in child.aspace.regions if child.aspace else ():
            if r.kind is RegionKind.SHM:
                self.attached(child, r.obj, r.start)

    def frame_refs(self):
        """The segments' own references, for the invariant checker."""
        for seg in self.segments.values():
            for pa in seg.frames:
                if pa:
                    yield pa, f"segment {seg.id}"

    def check(self, checker):
        """Invariants of the table: every segment's frames are allocated and
        counted, and every attachment's present PTEs name its segment's
        frames with its permissions."""
        frames = self.vm.frames
        for seg in self.segments.values():
            taken = [pa for pa in seg.frames if pa]
            if len(taken) != seg.nframes or len(set(taken)) != len(taken):
                checker.fail("segment frames counted once",
                             f"segment {seg.id}")
            for pa in taken:
                if not frames.refcount(pa):
                    checker.fail("segment frames allocated",
                                 f"segment {seg.id} frame {pa:#x} is free")
            for a in seg.attachments:
                self._check_attachment(checker, seg, a)

    def _check_attachment(self, checker, seg, a):
        """Compare all of an attachment's PTEs at once: each lane (32 or 64
        bits, the mode's entry size) of a big integer is one PTE (C-speed
        bitwise operations, no Python loop over 16,384 entries)."""
        proc = checker.k.procs.get(a.pid)
        if proc is None or proc.aspace is None:
            checker.fail("attachments belong to live processes",
                         f"segment {seg.id} attached in pid {a.pid}")
        if seg.page_size > PAGE_SIZE:
            return hugetlb.check_attachment(checker, self.vm, seg, a,
                                            proc.aspace)
        n, mode = seg.npages, self.vm.mode
        ptes = proc.aspace.ptes(a.addr, n)
        ones = lanes(n, 8 * mode.entry_size)
        actual = int.from_bytes(ptes.tobytes(), "little")
        present = (actual & ones) * mode.entry_mask  # P bit -> whole lane
        flags = self.vm.leaf_flags(not a.readonly, a.executable)
        frames = array(mode.typecode, seg.frames)
        want = int.from_bytes(frames.tobytes(), "little") | ones * flags
        width, aspace = 8 * mode.entry_size, proc.aspace
        for i in _protected(aspace, a.addr, n):      # mprotect's rights
            lane = seg.frames[i] | aspace.rights(a.addr + i * PAGE_SIZE, 0)
            want = want & ~(mode.entry_mask << width * i) | lane << width * i
        bits = mode.addr_mask | PTE_P | PTE_U | PTE_W | mode.nx   # not A, D
        if (actual ^ want) & ones * bits & present:
            i = next(i for i in range(n) if ptes[i] & PTE_P and
                     (ptes[i] ^ (seg.frames[i] | aspace.rights(
                         a.addr + i * PAGE_SIZE, flags))) & bits)
            checker.fail("attachment PTEs match the segment",
                         f"pid {a.pid} va {a.addr + i * PAGE_SIZE:#x} PTE "
                         f"{ptes[i]:#x}, segment {seg.id} page {i} frame "
                         f"{seg.frames[i]:#x}")

    def contents(self, seg=None):
        """(id, bytes) of seg, or of every segment in id order: what its
        pages hold now (untouched pages read as zeros)."""
        hw, zero = self.vm.hw, bytes(PAGE_SIZE)
        for s in [seg] if seg is not None else self.in_order():
            yield s.id, b"".join(hw.read(pa, PAGE_SIZE) if pa else zero
                                 for pa in s.frames)

    def frames_in_use(self):
        return sum(s.nframes for s in self.segments.values())

    def report(self, report):
        report["stats"]["shm_frames"] = self.frames_in_use()

    def in_order(self):
        return [self.segments[i] for i in sorted(self.segments)]


def first_fit(aspace, size, lo, hi, align=PAGE_SIZE):
    """The lowest align-aligned start in [lo, hi) with size bytes free of
    every region of aspace, or None."""
    start = lo
    for r in aspace.regions:                 # sorted by start
        if r.start >= start + size:
            break
        if r.end > start:
            start = (r.end + align - 1) // align * align
    return start if start + size <= hi else None


# -- system calls 10-15 --------------------------------------------------
def sys_shm_create(k, p, key, size, mode, *_):
    return k.shm.create(p, key, size, mode)


def sys_shm_lookup(k, p, key, *_):
    return k.shm.lookup(key)


def sys_shm_attach(k, p, seg_id, addr, flags, *_):
    return k.shm.attach(p, seg_id, addr, flags)


def sys_shm_detach(k, p, addr, *_):
    return k.shm.detach(p, addr)


def sys_shm_destroy(k, p, seg_id, *_):
    return k.shm.destroy(p, seg_id)


def sys_shm_stat(k, p, seg_id, buf, *_):
    return k.shm.stat(p, seg_id, buf)


def _protected(aspace, start, npages):
    """Indices of the pages of [start, +npages) that mprotect gave rights."""
    end = start + npages * PAGE_SIZE
    return [(va - start) >> PAGE_SHIFT for va in aspace.prot
            if start <= va < end]
