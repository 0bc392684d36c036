"""Instruction fetch coherent across CPUs for guest stores (docs/unicorn.md
"Code coherence between CPUs").

On hardware a store by any CPU is seen by every CPU's next fetch. Unicorn
CPUs sharing RAM keep running code they translated from the old bytes when
another CPU stores into it (a TLB flush does not help). The CPUs take turns
from one host thread, so a CPU can only hold stale code for a frame that
another CPU wrote while this one was not running. Each CPU records the
virtual pages it has translated code at (emu.icount.CodePages), so only
pages it may really hold code for are dropped, one page at a time
(ctl_remove_cache through the process's own mapping: Unicorn keys code by
physical frame). Kernel stores (copy-out, copy-on-write copies into reused
frames, loading) are handled where the kernel writes (vm.forget_code and
Scheduler.code_written); guest stores, which no hook sees, here:

- Private frames. Only the process's own address space maps them, so a
  CPU may hold stale code of them only when the process ran on another CPU
  since this one last ran it. Then, before it runs again here, every page
  this CPU translated code at whose PTE is Dirty (stored into at some time)
  is dropped. A frame a copy-on-write fault gives back to its last owner
  in place may hold code that relatives translated at the same address:
  break_cow reports it as written, so every CPU that translated code there
  drops it before it runs that process.
- Shared frames (a shm attachment, or the IPC harness's shared area):
  after a slice whose process mapped shared memory writable at any moment
  of it (at its start, at its end, or by an attach in between: a process
  may attach, store and exit in one slice), every other CPU's code of
  shared pages may be stale. Before a CPU runs a process after such a
  slice elsewhere (or for the first time: the CPU may hold code another
  process translated at the same addresses), it drops its code of every
  page it translated code at in the process's shared regions (executable
  ones: under PAE with NX, SHM_EXEC attachments only), and so it does for
  a region the process attaches during its slice. A CPU that runs only private
  code never pays.
"""

from weakref import WeakKeyDictionary

from emu.x86 import PTE_D, PTE_P


def shared_regions(p, writable=None, executable=None):
    """True when p maps a shared region with the given rights."""
    nx = p.aspace.vm.mode.nx
    for r in p.aspace.regions:
        if not r.shared:
            continue
        if writable and not r.writable:
            continue
        if executable and nx and not r.executable:
            continue
        return True
    return False


def drop_written_code(cpu, aspace):
    """cpu is about to run aspace, which ran on another CPU since cpu last
    ran it (aspace's tables are loaded): drop cpu's code of each private
    page it translated code at whose PTE is Dirty. Returns the count."""
    nx, n = aspace.vm.mode.nx, 0
    for r in aspace.regions:
        if r.shared:
            continue
        for va in cpu.code_pages.in_range(r.start, r.end):
            pte = aspace.pte(va)
            if pte & (PTE_P | PTE_D) == PTE_P | PTE_D:
                cpu.remove_code(va, bool(pte & nx))
                n += 1
    return n


def drop_shared_code(cpu, aspace, regions):
    """cpu is about to run aspace (its tables loaded), whose shared regions
    among `regions` may hold code stored into on another CPU: drop cpu's
    code of each page there it translated code at, through aspace's mapping
    (which drops the frame's code at every address). A page aspace does not
    map yet cannot be looked up (docs/unicorn.md "Code coherence between
    CPUs"): then cpu drops all its code. Returns the pages dropped."""
    nx, n = aspace.vm.mode.nx, 0
    for r in regions:
        if not r.shared or (nx and not r.executable):
            continue
        for va in cpu.code_pages.in_range(r.start, r.end):
            if aspace.frame_of(va) is None:
                cpu.flush_code()
                return n + 1
            cpu.remove_code(va)
            n += 1
    return n


class CodeCoherence:
    """Which address spaces each CPU ran, and when, against the slices that
    may have stored into their code, kept by the scheduler's before_slice/
    after_slice calls."""

    def __init__(self, ncpus):
        self.ncpus = ncpus
        self.flushes = 0         # times a CPU dropped stale shared code
        self.removals = 0        # private pages dropped after a migration
        self._writer = False     # the running process mapped shared memory
        #                          writable when its slice began
        self.slices = WeakKeyDictionary()   # aspace -> slices it has run
        self.ran = [WeakKeyDictionary() for _ in range(ncpus)]
        # per CPU: aspace -> its slice count when this CPU last ran it
        self.foreign = [0] * ncpus
        # per CPU: slices on other CPUs that may have stored into shared
        # memory (a CPU sees its own stores)
        self.fresh = [WeakKeyDictionary() for _ in range(ncpus)]
        # per CPU: aspace -> foreign[cpu] when its shared code was last
        # made fresh there

    def before_slice(self, cpu, p):
        """cpu is about to run p (p's tables loaded): drop its code of p's
        private pages stored into on another CPU since cpu last ran p, and
        of p's shared pages if another CPU may have stored into them since
        (or cpu never ran p: it may hold code another process translated
        at the same addresses)."""
        if self.ncpus == 1:
            return
        i, a = cpu.index, p.aspace
        seen = self.ran[i].get(a)
        if seen is not None and seen != self.slices.get(a):
            self.removals += drop_written_code(cpu, a)
        self._writer = shared_regions(p, writable=True)
        if self.fresh[i].get(a) != self.foreign[i]:
            self.fresh[i][a] = self.foreign[i]
            if drop_shared_code(cpu, a, a.regions):
                self.flushes += 1

    def mapped_during_slice(self, cpu, p, region):
        """p, running on cpu, has just mapped shared memory (a system call,
        so this runs in a hook, outside translated code): it may store into
        it before its slice ends, and run it now, where cpu may hold code
        another process translated at the same addresses."""
        if self.ncpus == 1:
            return
        if region is None:               # gone again: assume the worst
            self._writer = True
            cpu.flush_code()
            self.flushes += 1
            return
        self._writer = self._writer or region.writable
        if drop_shared_code(cpu, p.aspace, [region]):
            self.flushes += 1

    def after_slice(self, cpu, p):
        """cpu ran p: p's private pages may have changed under every other
        CPU that ran p; if p could store into shared memory (it mapped some
        at either end of the slice; it may have exited since), every other
        CPU's code of shared pages may be stale."""
        if self.ncpus == 1:
            return
        if p.aspace is not None:
            n = self.slices.get(p.aspace, 0) + 1
            self.slices[p.aspace] = self.ran[cpu.index][p.aspace] = n
        if self._writer or (p.aspace is not None and
                            shared_regions(p, writable=True)):
            for i in range(self.ncpus):
                if i != cpu.index:
                    self.foreign[i] += 1
