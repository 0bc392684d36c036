"""The invariant checker (`--check`; always on in the tests).

After every system call and fault it recounts, from the page tables in
guest RAM, what the kernel's books say:
- every frame's reference count equals the PTEs, page directories/tables
  and kernel owners (extensions' frame_refs()) that name it;
- no user-accessible PTE names a page directory, a page table, a free frame
  or a frame the kernel keeps for itself;
- the kernel half is identical in every page directory;
- copy-on-write: a PTE marked COW is never writable, and a frame that a
  writable PTE names outside shared memory is named by no other PTE (a
  private frame is never writable in two address spaces, nor while a
  COW sibling still names it); `writable` lists those frames for the
  extensions' own checks (a program cache's frames are never writable);
- no frame is both free and in use;
- each extension's own invariants (its check(checker) method).
A violation stops the run with a report naming the invariant, the frame or
PTE, and the last system call.
"""

from array import array
from collections import Counter

from emu.x86 import (PAGE_SHIFT, PAGE_SIZE, PTE_ADDR, PTE_COW, PTE_P, PTE_U,
                     PTE_W, pgaddr)
from kernel.vm import table_spans


class InvariantViolation(Exception):
    """The kernel's books disagree with the page tables: a kernel bug."""


class Checker:
    """every: check after every event (1), or after every Nth (a test that
    makes tens of thousands of faults over a 64 MiB segment would otherwise
    be quadratic); the end of a run is always checked."""

    def __init__(self, k, every=1):
        self.k = k
        self.every = max(1, int(every))
        self.checks = 0
        self.events = 0
        self.last_event = "boot"
        self.writable = set()    # frames some writable user PTE names

    def after(self, event):
        """Called after every syscall and fault."""
        self.events += 1
        if self.events % self.every == 0:
            self.run(event)

    def fail(self, invariant, detail):
        raise InvariantViolation(f"invariant '{invariant}' broken: {detail} "
                                 f"(after {self.last_event})")

    def run(self, event):
        """Check everything; event names what just happened (for reports)."""
        self.last_event = event
        self.checks += 1
        refs, tables = self._count_page_table_refs()
        self._check_private_writable(refs)
        for ext in self.k.extensions:
            for pa, owner in getattr(ext, "frame_refs", lambda: ())():
                refs[pa] += 1
        self._check_refcounts(refs)
        self._check_free_list()
        for ext in self.k.extensions:
            if hasattr(ext, "check"):
                ext.check(self)
        return tables

    def live_spaces(self):
        return [p.aspace for p in self.k.procs if p.aspace is not None]

    def _count_page_table_refs(self):
        """Count references from every live directory and table; check the
        kernel half and that user PTEs name only user-ownable frames."""
        refs, tables = Counter(), set()
        self.writable = set()
        for a in self.live_spaces():
            tables.add(a.pd)
            tables.update(a.tables.values())
        for a in self.live_spaces():
            refs[a.pd] += 1
            self._check_kernel_half(a)
            shared = table_spans([r for r in a.regions if r.shared])
            for i, pt in a.tables.items():
                refs[pt] += 1
                self._count_table(a, i, pt, refs, tables, shared.get(i, ()))
        return refs, tables

    def _check_private_writable(self, refs):
        """Before kernel holds are added, refs[pa] of a data frame counts
        the PTEs naming it: one writable in a private region is alone."""
        for pa in self.writable:
            if refs[pa] != 1:
                self.fail("a private frame is writable through one PTE only",
                          f"frame {pa:#x} is writable and named by "
                          f"{refs[pa]} PTEs")

    def _check_kernel_half(self, a):
        if self.k.hw.read(a.pd + 4 * 768, 1024) != self.k.vm.kernel_half:
            self.fail("kernel half identical in every page directory",
                      f"directory {a.pd:#x} differs")

    def _count_table(self, a, i, pt, refs, tables, shared):
        """Count table i's PTEs; shared: [(first, end)] PTE indices in
        shared regions (a frame writable there may have other names)."""
        hw = self.k.hw
        pde = hw.read32(a.pd + 4 * i)
        if pde & PTE_ADDR != pt or not pde & PTE_P:
            self.fail("PDE names its page table",
                      f"PDE[{i}] of {a.pd:#x} is {pde:#x}, table {pt:#x}")
        first = self.k.frames.first << PAGE_SHIFT
        in_shared = bytearray(1024)
        for j, end in shared:
            in_shared[j:end] = b"\1" * (end - j)
        for j, e in enumerate(array("I", hw.read(pt, PAGE_SIZE))):
            if not e & PTE_P:
                continue
            pa = e & PTE_ADDR
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
        f = self.k.frames
        if len(set(f.free)) != len(f.free):
            self.fail("free list has no duplicates", "a frame is listed twice")
        in_use = f.total - f.ref[f.first:].count(0)
        if f.nfree + in_use > f.total:
            busy = next(pfn for pfn in f.free if f.ref[pfn])
            self.fail("no frame both free and in use",
                      f"frame {busy << PAGE_SHIFT:#x} is free with count "
                      f"{f.ref[busy]}")
        if f.nfree + in_use < f.total:
            free = set(f.free)
            lost = next(pfn for pfn in range(f.first, f.end)
                        if not f.ref[pfn] and pfn not in free)
            self.fail("every frame is free or in use",
                      f"frame {lost << PAGE_SHIFT:#x} is neither")
