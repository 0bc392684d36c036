"""TLB shootdown: every emulated CPU has its own TLB (docs/unicorn.md), so
when the kernel removes or reduces a translation of an address space, each
other CPU whose loaded context runs that address space must flush before
the kernel call returns and before a frame is freed or reused.

The CPUs take turns from one host thread, so while the kernel runs in one
CPU's hook every other CPU is stopped between two instructions: "send an
inter-processor interrupt and wait for its flush" is flushing that CPU's
TLB now, from here. A CPU whose loaded context is another address space is
skipped (lazy, as Linux does for CPUs in another mm): it flushes anyway
when it next loads a context (emu.machine.Cpu.load). The pages of one
change go in one round: one interrupt per target CPU, whatever the number
of pages.

With shootdown off (`--tlb-shootdown off`, teaching only) no interrupt is
sent; a StaleTlb detector (kernel.mm.staletlb) then reports every access a
CPU makes through a translation the tables no longer grant."""

from kernel.mm.staletlb import StaleTlb


class Shootdown:
    """The kernel's shootdowns over the scheduler's per-CPU view (PerCpu:
    .cpu, .loaded = the thread whose context is in the CPU)."""

    def __init__(self, k, percpu):
        self.k, self.percpu = k, percpu
        self.enabled = True
        self.stale = None            # kernel.mm.staletlb.StaleTlb when off

    def turn_off(self):
        """`--tlb-shootdown off`: send no interrupts; detect and report
        accesses through stale translations instead."""
        self.enabled = False
        self.stale = StaleTlb(self.k)

    def targets(self, aspace):
        """The CPUs other than the current one whose loaded context runs
        aspace."""
        cur = self.k.cpu
        return [pc for pc in self.percpu if pc.cpu is not cur and
                pc.loaded is not None and pc.loaded.proc.aspace is aspace]

    def tables_changed(self, aspace, why, old=()):
        """Translations of aspace were removed or reduced (old: the
        (va, frame) pairs they gave, where known): flush the current CPU
        now and shoot down every other CPU running aspace."""
        k = self.k
        if k.cpu is not None:
            k.cpu.flush_tlb()
            k.stats.tlb_flushes += 1
            if self.stale is not None:
                self.stale.flushed(self.percpu[k.cpu.index])
        targets = self.targets(aspace)
        if targets:
            self._round(targets, aspace, why, old)

    def _round(self, targets, aspace, why, old):
        k = self.k
        if not self.enabled:
            if self.stale is not None:
                self.stale.skipped(targets, aspace, old)
            return
        for pc in targets:
            pc.cpu.flush_tlb()
        k.stats.tlb_shootdowns += len(targets)
        k.stats.tlb_flushes += len(targets)
        if k.hooks.shootdown:
            k.notify("shootdown", k.cpu, [pc.cpu.index for pc in targets],
                     targets[0].loaded.proc.pid, why)

    def stopped(self, pc, t):
        """t, running on pc's CPU, ends because its process exited on
        another CPU: the interrupt that stops it flushes that TLB."""
        if t.proc.aspace is not None:
            self._round([pc], t.proc.aspace, "exit", ())

    def loaded(self, pc):
        """pc's CPU loaded a context, which flushed its TLB."""
        if self.stale is not None:
            self.stale.flushed(pc)
