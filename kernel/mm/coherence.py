"""Instruction fetch coherent across CPUs for guest stores into shared
memory (docs/unicorn.md "Code coherence between CPUs").

On hardware a store by any CPU is seen by every CPU's next fetch. Unicorn
CPUs sharing RAM keep running code they translated from the old bytes when
another CPU stores into it (a TLB flush does not help). The CPUs take turns
from one host thread, so a CPU can only hold stale code for a frame that
another CPU wrote while this one was not running, and only a frame some
other process can write: a shm attachment (or the IPC harness's shared
area). Private and copy-on-write frames are never written by another
process in place (a COW break copies, or reuses a frame nobody else names,
and frames the kernel rewrites are handled where it writes them:
vm.forget_code and the copy-out path).

The rule, per CPU: after a slice whose process mapped shared memory
writable at any moment of it (at its start, at its end, or by an attach
in between: a process may attach, store and exit in one slice), every
other CPU's translated code may be stale; before a CPU runs a process
that maps shared memory executable (always under 32-bit paging, only
SHM_EXEC attachments under PAE with NX), a CPU marked stale drops all its
translated code (one ctl_flush_tb, ~10 us plus retranslating), and so does
a marked CPU whose process attaches shared memory during its slice. A CPU
that runs only private code never pays.
"""


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


class CodeCoherence:
    """Per-CPU "may hold stale shared code" marks, kept by the scheduler's
    before_slice/after_slice calls."""

    def __init__(self, ncpus):
        self.stale = [False] * ncpus
        self.flushes = 0
        self._writer = False     # the running process mapped shared memory
        #                          writable when its slice began

    def before_slice(self, cpu, p):
        """cpu is about to run p: drop its code if it may be stale and p
        may execute shared memory."""
        if len(self.stale) == 1:
            return
        self._writer = shared_regions(p, writable=True)
        if self.stale[cpu.index] and shared_regions(p, executable=True):
            cpu.flush_code()
            self.stale[cpu.index] = False
            self.flushes += 1

    def mapped_during_slice(self, cpu, writable):
        """The process running on cpu has just mapped shared memory (a
        system call, so this runs in a hook, outside translated code): it
        may store into it before its slice ends, and run it now."""
        if len(self.stale) == 1:
            return
        self._writer = self._writer or writable
        if self.stale[cpu.index]:
            cpu.flush_code()
            self.stale[cpu.index] = False
            self.flushes += 1

    def after_slice(self, cpu, p):
        """cpu ran p: if p could store into shared memory (it mapped some
        at either end of the slice; it may have exited since), every other
        CPU may now hold stale translations of it."""
        if len(self.stale) == 1:
            return
        if self._writer or (p.aspace is not None and
                            shared_regions(p, writable=True)):
            for i in range(len(self.stale)):
                if i != cpu.index:
                    self.stale[i] = True
