"""The incremental invariant checker (`--check`): the invariants of
tools.observe.check, verified after each event for what the event changed.

It asks the kernel for a record of what changed (Frames.touched: the frames
whose count changed; VM.dirty: the PTE ranges written and the address
spaces whose PDEs changed) and keeps, from the deltas, its own picture of
the page tables: a shadow of every present PTE and large-page leaf it has
seen, and from it a count of the PTEs naming each frame (`pte_refs`) and
of the private writable PTEs naming it. After each event it checks, for
the PTEs written and the frames touched:
- a COW PTE is never writable, and user PTEs never name kernel frames;
- a PDE names its page table, or is a large-page leaf (the directories
  of a space whose tables or PDEs changed are compared with their shadow
  as bytes);
- a private frame is writable through one PTE only;
- refcount = PTEs + page-table owners + the parts' owners;
- the frame's place in the free map agrees with its count;
and, every time, the kernel half of every directory (one compare each).
The kernel parts' own checks run after every system call and after a
fault or interrupt that made a frame writable; shared memory's after its
events and when a large-page leaf changes (a fault into a 4 KiB segment
page is covered by the PTE checks). The full recount (Checker.run) runs
every full_every events and at the end of the run.
"""

from array import array
from collections import Counter

from emu.x86 import PAGE_SHIFT, PAGE_SIZE, PTE_A, PTE_COW, PTE_D, PTE_P, \
    PTE_PS, PTE_U, PTE_W
from kernel.memlayout import KERNBASE, USER_END
from kernel.events import Trap
from kernel.mm.frames import lanes
from tools.observe.check import Checker

FULL_EVERY = 4096                # events between two full recounts
_AD = PTE_A | PTE_D              # the MMU's bits: no invariant reads them


class Space:
    """The checker's picture of one address space."""

    def __init__(self):
        self.dirs = b""          # the directories' bytes as last seen
        self.frames = ()         # its paging structures
        self.half_at = 0         # the address of its kernel half
        self.leaves = {}         # dirx -> first frame of a large-page leaf
        self.ptes = {}           # dirx -> {PTE index: (entry, private W)}


class IncrementalChecker(Checker):
    """Checker whose run() checks what changed since the last check;
    full() is the full recount. every: check after every Nth event;
    full_every: a full recount after every Nth event (0: only at the
    end of the run)."""

    def __init__(self, k, every=1, full_every=FULL_EVERY):
        super().__init__(k, every)
        self.full_every = max(0, int(full_every))
        k.frames.touched = set()
        k.vm.dirty = []
        self.spaces = {}
        self.pte_refs = Counter()        # pa -> present PTEs and leaves
        self.private_w = Counter()       # pa -> private writable PTEs
        self.tables = Counter()          # pa -> live paging structures
        self.shm_owners = Counter()      # pa -> the segments' references
        self.shm_changed = True
        self.fulls = 0
        self._region = None, None        # (space, region) _shared found last
        self.other_owners = Counter()    # pa -> the other parts' references
        mode = k.vm.mode                 # the mode's constants, bound once
        self.addr_mask, self.per_table = mode.addr_mask, mode.ptes_per_table
        self.entry_size, self.typecode = mode.entry_size, mode.typecode
        self.large_shift = mode.large_shift
        self.first_pa = k.frames.first << PAGE_SHIFT
        self._resync()                   # attached to a running kernel too

    # -- events ------------------------------------------------------------
    def on_trap_end(self, event):
        self.events += 1
        if self.full_every and self.events % self.full_every == 0:
            self.full(event)
        elif self.events % self.every == 0:
            self.run(event)

    def on_run_end(self):
        self.full("the end of the run")

    def on_shm_attach(self, p, seg, addr):
        self.shm_changed = True

    def on_shm_detach(self, seg):
        self.shm_changed = True

    def on_shm_frame(self, seg, page, pa):
        self.shm_owners[pa] += 1

    def on_shm_free(self, seg):
        self.shm_changed = True
        for pa in seg.frames:
            if pa:
                self.shm_owners[pa] -= 1

    # -- the two checks ----------------------------------------------------
    def full(self, event):
        """The full recount (the picture stays: it agrees with the page
        tables, which the recount has just checked against the books)."""
        self.fulls += 1
        self._check_changes(event)
        return Checker.run(self, event)

    def run(self, event):
        """Check what changed since the last check."""
        self.checks += 1
        return self._check_changes(event)

    def _check_changes(self, event):
        """Bring the picture up to date, checking what changed."""
        self.last_event = event
        frames, k = self.k.frames, self.k
        touched = {pa << PAGE_SHIFT for pa in frames.touched}
        frames.touched.clear()
        dirty, k.vm.dirty = k.vm.dirty, []
        self._region = None, None
        trap = isinstance(event, Trap) and not event.is_syscall
        if not trap:             # a system call may change any part's books
            self._rebuild_owners(shm=not isinstance(event, Trap)
                                 or str(event.syscall).startswith("shm"))
        self._sync_spaces(dirty, touched)
        for a, va, n in dirty:
            if n and a in self.spaces:
                self._sync_ptes(a, va, n, touched)
        touched = sorted(touched)
        self._check_frames(touched)
        self._check_free_list_cheaply(touched)
        self._check_parts(event, trap, touched)
        self.check_threads()
        return self.tables.keys()

    # -- the picture -------------------------------------------------------
    def _sync_spaces(self, dirty, touched):
        """Drop the spaces gone, sync the new ones and those written to,
        check every kernel half."""
        live = self.live_spaces()
        alive = set(live)
        for a in self.spaces.keys() - alive:
            self._drop_space(a, touched)
        changed = {a for a, _, _ in dirty} & alive
        changed |= alive - self.spaces.keys()
        pdes = {a for a, _, n in dirty if not n}
        for a in [a for a in live if a in changed]:   # in the full order
            self._sync_space(a, a in pdes, touched)
        self._check_kernel_halves(live)

    def _resync(self):
        """Forget the picture and rebuild it from every live table."""
        self.spaces.clear()
        self.pte_refs.clear()
        self.private_w.clear()
        self.writable = set()
        self.k.frames.touched.clear()
        self.k.vm.dirty = []
        self.tables = Counter()
        self._rebuild_owners()
        self._see_free_map()
        mode, ignored = self.k.vm.mode, set()
        for a in self.live_spaces():
            self._sync_space(a, True, ignored)
            for i in a.tables:
                self._sync_ptes(a, mode.page_va(i), mode.ptes_per_table,
                                ignored)

    def _see_free_map(self):
        self.free_seen = bytearray(self.k.frames.free_map)
        self.nfree_seen = self.k.frames.nfree

    def _sync_space(self, a, pdes, touched):
        """A new address space, or one with PTEs or PDEs (pdes) written: its
        paging structures, and when they or its PDEs changed, its PDPT and
        its directories."""
        s = self.spaces.get(a)
        if s is None:
            s = self.spaces[a] = Space()
            s.half_at = a.pde_addr(self.k.vm.mode.dirx(KERNBASE))
        if self._set_tables(s, tuple(a.table_frames()), touched) or pdes \
                or not s.dirs:
            self._check_top(a)
            self._sync_dirs(a, touched)

    def _set_tables(self, s, frames, touched):
        """The paging structures of space s are now frames; True when they
        changed."""
        if frames != s.frames:
            self.tables.subtract(s.frames)
            self.tables.update(frames)
            for f in s.frames:
                if not self.tables[f]:
                    del self.tables[f]
            touched.update(set(s.frames).symmetric_difference(frames))
            s.frames = frames
            return True
        return False

    def _check_kernel_halves(self, live):
        """The kernel half of every directory, one compare each."""
        mem, half = self.k.hw.mem, self.k.vm.kernel_half
        n, spaces = len(half), self.spaces
        for a in live:
            at = spaces[a].half_at
            if bytes(mem[at:at + n]) != half:
                self._check_kernel_half(a)

    def _drop_space(self, a, touched):
        """A space that is no longer live: its PTEs, leaves and paging
        structures go."""
        s = self.spaces.pop(a)
        self._set_tables(s, (), touched)
        for d in list(s.leaves):
            self._leaf(s, d, 0, touched)
        for ents in s.ptes.values():
            for e, private in ents.values():
                self._count_pte(e, private, -1, touched)

    def _sync_dirs(self, a, touched):
        """Compare a's directories with the picture; account for each user
        PDE that changed (other than in its A and D bits)."""
        s = self.spaces[a]
        hw, mode = self.k.hw, self.k.vm.mode
        new = b"".join(hw.read(f, PAGE_SIZE) for f in a.dirs)
        if new == s.dirs:
            return
        old = s.dirs or bytes(len(new))
        s.dirs = new
        bits, user = 8 * mode.entry_size, mode.dirx(USER_END)
        diff = int.from_bytes(new, "little") ^ int.from_bytes(old, "little")
        diff &= ~(lanes(user, bits) * _AD) & ((1 << (bits * user)) - 1)
        pdes = array(mode.typecode, new)
        while diff:
            d = ((diff & -diff).bit_length() - 1) // bits
            diff &= ~(((1 << bits) - 1) << (bits * d))
            self._check_pde(a, s, d, pdes[d], touched)

    def _check_pde(self, a, s, d, e, touched):
        mode = self.k.vm.mode
        pt = a.tables.get(d)
        if pt is not None and (e & (PTE_P | PTE_PS) != PTE_P
                               or e & mode.addr_mask != pt):
            self.fail("PDE names its page table",
                      f"PDE[{d}] of {a.pd:#x} is {e:#x}, table {pt:#x}")
        if pt is None and e & PTE_P and not e & PTE_PS:
            self.fail("PDE names its page table",
                      f"PDE[{d}] of {a.pd:#x} is {e:#x}, no table")
        leaf = pt is None and e & PTE_P and mode.large_pa(e, 0) | PTE_P
        if leaf or d in s.leaves:        # shared memory checks its leaves
            self.shm_changed = True
        self._leaf(s, d, leaf or 0, touched)

    def _leaf(self, s, d, leaf, touched):
        """Replace leaf d's references (leaf: its first frame | P, or 0)."""
        n = self.k.vm.mode.large_pages
        for base, sign in ((s.leaves.pop(d, 0), -1), (leaf, 1)):
            if base:
                base &= ~PTE_P
                for i in range(n):
                    pa = base + i * PAGE_SIZE
                    self.pte_refs[pa] += sign
                    touched.add(pa)
        if leaf:
            s.leaves[d] = leaf

    def _sync_ptes(self, a, va, n, touched):
        """Account for the npages PTEs from va that changed."""
        hw, size, per = self.k.hw, self.entry_size, self.per_table
        s, shift = self.spaces[a], self.large_shift
        while n > 0:
            i, j = va >> shift, (va >> PAGE_SHIFT) & (per - 1)
            m = min(n, per - j)
            pt = a.tables.get(i)
            ents = array(self.typecode, bytes(size * m) if pt is None
                         else hw.read(pt + size * j, size * m))
            seen = s.ptes.setdefault(i, {})
            if ents.count(0) == m:               # cleared: no checks
                self._clear_ptes(seen, j, m, touched)
            else:
                get = seen.get
                for x, e in enumerate(ents):
                    old = get(j + x)
                    if (old[0] if old else 0) != e & ~_AD:
                        self._sync_pte(a, seen, i, j + x, e & ~_AD, touched)
            if not seen:
                del s.ptes[i]
            va, n = va + m * PAGE_SIZE, n - m

    def _sync_pte(self, a, seen, i, j, e, touched):
        """PTE j of table i is e, no longer what seen says."""
        old = seen.pop(j, None)
        if old:
            self._count_pte(old[0], old[1], -1, touched)
        if not e & PTE_P:
            return
        va = (i << self.large_shift) | (j << PAGE_SHIFT)
        pa = e & self.addr_mask
        if e & PTE_W and e & PTE_COW:
            self.fail("a COW PTE is never writable",
                      f"PTE for {va:#x} in {a.pd:#x} is {e:#x}")
        if e & PTE_U and (pa in self.tables or pa < self.first_pa):
            self.fail("user PTEs never name kernel frames",
                      f"PTE for {va:#x} in {a.pd:#x} names {pa:#x}")
        private = bool(e & PTE_W) and not self._shared(a, va)
        seen[j] = (e, private)
        self._count_pte(e, private, 1, touched)

    def _shared(self, a, va):
        """Whether va is in a shared region of a (the region found last in
        this check is tried first: PTEs are written in runs)."""
        space, r = self._region
        if space is not a or r is None or not r.contains(va):
            r = a.region_at(va)
            self._region = a, r
        return r is not None and r.shared

    def _clear_ptes(self, seen, j, m, touched):
        """PTEs j to j + m of a table are all 0 (an unmap)."""
        gone = [seen.pop(x) for x in range(j, j + m) if x in seen] \
            if len(seen) > m else \
            [seen.pop(x) for x in [x for x in seen if j <= x < j + m]]
        mask = self.addr_mask
        pas = [e & mask for e, _ in gone]
        self.pte_refs.subtract(pas)
        touched.update(pas)
        for e, private in gone:
            if private:
                self._count_private(e & mask, -1)

    def _count_pte(self, e, private, sign, touched):
        """Count PTE e once more (sign 1) or once less (-1)."""
        pa = e & self.addr_mask
        self.pte_refs[pa] += sign
        touched.add(pa)
        if private:
            self._count_private(pa, sign)

    def _count_private(self, pa, sign):
        n = self.private_w[pa] = self.private_w[pa] + sign
        (self.writable.add if n else self.writable.discard)(pa)

    # -- the checks of what changed ----------------------------------------
    def _check_frames(self, touched):
        """The private-writable rule, then refcount = PTEs + owners, for
        each touched frame (lowest first, as the full recount reports)."""
        pte_refs, private_w = self.pte_refs, self.private_w
        for pa in touched:
            if private_w[pa] and pte_refs[pa] != 1:
                self.fail("a private frame is writable through one PTE only",
                          f"frame {pa:#x} is writable and named by "
                          f"{pte_refs[pa]} PTEs")
        f, rebuilt = self.k.frames, False
        ref, fmap, tables = f.ref, f.free_map, self.tables
        others, shm = self.other_owners, self.shm_owners
        for pa in touched:
            pfn = pa >> PAGE_SHIFT
            if pfn >= f.end:
                continue
            n = pte_refs[pa] + tables[pa] + others[pa] + shm[pa]
            if n != ref[pfn] and not rebuilt:
                self._rebuild_owners()   # a part took or dropped a frame
                rebuilt, n = True, self._refs(pa)
                others, shm = self.other_owners, self.shm_owners
            if n != ref[pfn]:
                self.fail("refcount = PTEs + owners",
                          f"frame {pa:#x} has count {ref[pfn]} but "
                          f"{n} references")
            if bool(ref[pfn]) == fmap[pfn]:
                self._check_free_list()

    def _refs(self, pa):
        """The references to frame pa the picture knows of."""
        return (self.pte_refs[pa] + self.tables[pa] + self.other_owners[pa]
                + self.shm_owners[pa])

    def _rebuild_owners(self, shm=True):
        """Recount the parts' references (shared memory's when shm: its
        books are otherwise kept from its events, being large)."""
        self.other_owners = Counter(
            pa for part in self.k.parts if part is not self.k.shm
            for pa, _ in part.frame_refs())
        if shm:
            self.shm_owners = Counter(pa for pa, _ in self.k.shm.frame_refs())
            self.shm_changed = True

    def _check_free_list_cheaply(self, touched):
        """The allocator's free count against the picture's: only touched
        frames may have changed their place in the free map; and the hint.
        On a difference, the allocator's full report."""
        f, seen = self.k.frames, self.free_seen
        fmap, nfree = f.free_map, self.nfree_seen
        for pa in touched:
            pfn = pa >> PAGE_SHIFT
            if pfn < f.end:
                nfree += fmap[pfn] - seen[pfn]
                seen[pfn] = fmap[pfn]
        self.nfree_seen = f.nfree
        if nfree != f.nfree or fmap.find(1, f.first, f.low) >= 0:
            self._check_free_list()

    def _check_parts(self, event, trap, touched):
        """The parts' own checks: after a system call (which may change
        their books), or after a fault or interrupt that made a frame
        writable (the program text's rule); shared memory's after its
        events."""
        if "shm" in str(event):
            self.shm_changed = True
        others = not trap or not self.writable.isdisjoint(touched)
        for part in self.k.parts:
            if self.shm_changed if part is self.k.shm else others:
                part.check(self)
        self.shm_changed = False
