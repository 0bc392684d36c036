"""The invariant checker (`--check`; always on in the tests).

After every system call and fault it recounts, from the page tables in
guest RAM, what the kernel's books say:
- every frame's reference count equals the PTEs, page directories/tables
  and kernel owners (the kernel parts' frame_refs()) that name it;
- no user-accessible PTE names a page directory, a page table, a free frame
  or a frame the kernel keeps for itself;
- the kernel half is identical in every page directory;
- copy-on-write: a PTE marked COW is never writable, and a frame that a
  writable PTE names outside shared memory is named by no other PTE (a
  private frame is never writable in two address spaces, nor while a
  COW sibling still names it); `writable` lists those frames for the
  parts' own checks (a program cache's frames are never writable);
- no frame is both free and in use;
- each kernel part's own invariants (its check(checker) method).
A violation stops the run with a report naming the invariant, the frame or
PTE, and the last system call.
"""

from array import array
from collections import Counter

from emu.x86 import (PAGE_SHIFT, PAGE_SIZE, PTE_COW, PTE_P, PTE_PS, PTE_U,
                     PTE_W)
from kernel.memlayout import KERNBASE, USER_END
from kernel.mm.vm import table_spans


class InvariantViolation(Exception):
    """The kernel's books disagree with the page tables: a kernel bug."""


class Checker:
    """An observer of kernel k (attach it: k.attach(Checker(k))). every:
    check after every event (1), or after every Nth (a test that makes
    tens of thousands of faults over a 64 MiB segment would otherwise be
    quadratic); the end of a run is always checked."""

    def __init__(self, k, every=1):
        self.k = k
        self.every = max(1, int(every))
        self.checks = 0
        self.events = 0
        self.last_event = "boot"
        self.writable = set()    # frames some writable user PTE names

    def on_trap_end(self, event):
        """After every syscall and fault."""
        self.events += 1
        if self.events % self.every == 0:
            self.run(event)

    def on_run_end(self):
        self.run("the end of the run")

    def fail(self, invariant, detail):
        raise InvariantViolation(f"invariant '{invariant}' broken: {detail} "
                                 f"(after {self.last_event})")

    def run(self, event):
        """Check everything; event names what just happened (for reports)."""
        self.last_event = event
        self.checks += 1
        refs, tables = self._count_page_table_refs()
        self._check_private_writable(refs)
        for part in self.k.parts:
            for pa, owner in part.frame_refs():
                refs[pa] += 1
        self._check_refcounts(refs)
        self._check_free_list()
        for part in self.k.parts:
            part.check(self)
        self.check_threads()
        return tables

    def check_threads(self):
        """The threads of a live process share its one directory: the CR3
        each would run with (its CPU's while loaded, else its saved one)."""
        live = {pc.loaded: pc.cpu for pc in self.k.sched.percpu
                if pc.loaded is not None}
        for p in self.k.procs:
            if p.aspace is None:
                continue
            for t in p.live_threads():
                cpu = live.get(t)
                cr3 = cpu.reg("cr3") if cpu else t.ctx.get("cr3")
                if cr3 != p.aspace.pd:
                    self.fail("a process's threads share one directory",
                              f"tid {t.tid} of pid {p.pid} has CR3 {cr3:#x}"
                              f", the process {p.aspace.pd:#x}")

    def live_spaces(self):
        return [p.aspace for p in self.k.procs if p.aspace is not None]

    def _count_page_table_refs(self):
        """Count references from every live directory and table; check the
        kernel half and that user PTEs name only user-ownable frames."""
        refs, tables = Counter(), set()
        self.writable = set()
        mode = self.k.vm.mode
        for a in self.live_spaces():
            tables.update(a.table_frames())
        for a in self.live_spaces():
            for f in a.table_frames():
                refs[f] += 1
            self._check_top(a)
            self._check_kernel_half(a)
            self._count_large_leaves(a, refs)
            shared = table_spans([r for r in a.regions if r.shared], mode)
            for i, pt in a.tables.items():
                self._count_table(a, i, pt, refs, tables, shared.get(i, ()))
        return refs, tables

    def _check_top(self, a):
        """Under PAE: each PDPTE names its directory with P and nothing the
        hardware would reject at the CR3 load (Unicorn would accept it)."""
        if a.pd in a.dirs:
            return
        for k, d in enumerate(a.dirs):
            e = self.k.vm.read_entry(a.pd + 8 * k)
            if e != d | PTE_P:
                self.fail("PDPTEs name the directories and nothing else",
                          f"PDPTE[{k}] of {a.pd:#x} is {e:#x}, directory "
                          f"{d:#x}")

    def _count_large_leaves(self, a, refs):
        """A present user PDE without a page table is a large-page leaf;
        it holds one reference on each 4 KiB frame it covers."""
        mode, hw = self.k.vm.mode, self.k.hw
        pdes = array(mode.typecode, b"".join(hw.read(f, PAGE_SIZE)
                                             for f in a.dirs))
        for d in range(mode.dirx(USER_END)):
            e = pdes[d]
            if not e & PTE_P or d in a.tables:
                continue
            if not e & PTE_PS:
                self.fail("PDE names its page table",
                          f"PDE[{d}] of {a.pd:#x} is {e:#x}, no table")
            base = mode.large_pa(e, 0)
            for i in range(mode.large_pages):
                refs[base + i * PAGE_SIZE] += 1

    def _check_private_writable(self, refs):
        """Before kernel holds are added, refs[pa] of a data frame counts
        the PTEs naming it: one writable in a private region is alone."""
        for pa in self.writable:
            if refs[pa] != 1:
                self.fail("a private frame is writable through one PTE only",
                          f"frame {pa:#x} is writable and named by "
                          f"{refs[pa]} PTEs")

    def _check_kernel_half(self, a):
        half = self.k.vm.kernel_half
        at = a.pde_addr(self.k.vm.mode.dirx(KERNBASE))
        if self.k.hw.read(at, len(half)) != half:
            self.fail("kernel half identical in every page directory",
                      f"directory {a.pd:#x} differs")

    def _count_table(self, a, i, pt, refs, tables, shared):
        """Count table i's PTEs; shared: [(first, end)] PTE indices in
        shared regions (a frame writable there may have other names)."""
        hw, mode = self.k.hw, self.k.vm.mode
        pde = a.pde(i)
        if pde & mode.addr_mask != pt or not pde & PTE_P or pde & PTE_PS:
            self.fail("PDE names its page table",
                      f"PDE[{i}] of {a.pd:#x} is {pde:#x}, table {pt:#x}")
        first = self.k.frames.first << PAGE_SHIFT
        in_shared = bytearray(mode.ptes_per_table)
        for j, end in shared:
            in_shared[j:end] = b"\1" * (end - j)
        pgaddr = mode.page_va
        for j, e in enumerate(array(mode.typecode, hw.read(pt, PAGE_SIZE))):
            if not e & PTE_P:
                continue
            pa = e & mode.addr_mask
            refs[pa] += 1
            if e & PTE_W:
                if e & PTE_COW:
                    self.fail("a COW PTE is never writable",
                              f"PTE for {pgaddr(i, j):#x} in {a.pd:#x} is "
                              f"{e:#x}")
                if not in_shared[j]:
                    self.writable.add(pa)
            if e & PTE_U and (pa in tables or pa < first):
                self.fail("user PTEs never name kernel frames",
                          f"PTE for {pgaddr(i, j):#x} in {a.pd:#x} names "
                          f"{pa:#x}")

    def _check_refcounts(self, refs):
        f = self.k.frames
        expected = array("I", bytes(4 * f.end))
        for pa, n in refs.items():
            expected[pa >> PAGE_SHIFT] = n
        if expected == f.ref:
            return
        pfn = next(i for i in range(f.end) if expected[i] != f.ref[i])
        self.fail("refcount = PTEs + owners",
                  f"frame {pfn << PAGE_SHIFT:#x} has count {f.ref[pfn]} but "
                  f"{expected[pfn]} references")

    def _check_free_list(self):
        for invariant, detail in self.k.frames.problems():
            self.fail(invariant, detail)
