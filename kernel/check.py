"""The invariant checker (`--check`; always on in the tests).

After every system call and fault it recounts, from the page tables in
guest RAM, what the kernel's books say:
- every frame's reference count equals the PTEs, page directories/tables
  and kernel owners (extensions' frame_refs()) that name it;
- no user-accessible PTE names a page directory, a page table, a free frame
  or a frame the kernel keeps for itself;
- the kernel half is identical in every page directory;
- no frame is both free and in use;
- each extension's own invariants (its check(checker) method).
A violation stops the run with a report naming the invariant, the frame or
PTE, and the last system call.
"""

from array import array
from collections import Counter

from emu.x86 import PAGE_SHIFT, PAGE_SIZE, PTE_ADDR, PTE_P, PTE_U, pgaddr


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
        for a in self.live_spaces():
            tables.add(a.pd)
            tables.update(a.tables.values())
        for a in self.live_spaces():
            refs[a.pd] += 1
            self._check_kernel_half(a)
            for i, pt in a.tables.items():
                refs[pt] += 1
                self._count_table(a, i, pt, refs, tables)
        return refs, tables

    def _check_kernel_half(self, a):
        if self.k.hw.read(a.pd + 4 * 768, 1024) != self.k.vm.kernel_half:
            self.fail("kernel half identical in every page directory",
                      f"directory {a.pd:#x} differs")

    def _count_table(self, a, i, pt, refs, tables):
        hw = self.k.hw
        pde = hw.read32(a.pd + 4 * i)
        if pde & PTE_ADDR != pt or not pde & PTE_P:
            self.fail("PDE names its page table",
                      f"PDE[{i}] of {a.pd:#x} is {pde:#x}, table {pt:#x}")
        first = self.k.frames.first << PAGE_SHIFT
        for j, e in enumerate(array("I", hw.read(pt, PAGE_SIZE))):
            if not e & PTE_P:
                continue
            pa = e & PTE_ADDR
            refs[pa] += 1
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
