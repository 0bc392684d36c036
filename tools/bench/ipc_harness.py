"""Boot a machine whose processes start with memory already shared.

Until the shm calls land, this is how two processes get one set of frames:
the harness takes the frames and maps them, through the address-space
module, at a different virtual address in each process before any of them
runs. That is what shm_attach will do on request: real PTEs naming the
same frames, each PTE owning one reference. Programs learn their address
from their spawn argument (userland/include/shared_arg.h).
"""

import io
import time
from dataclasses import dataclass

from emu.x86 import PAGE_SIZE, PTE_P, PTE_U, PTE_W
from kernel.kernel import Console, Kernel
from tools.observe.boot import new_kernel
from tools.observe.report import build_report
from kernel.mm.vm import Region, RegionKind
from tools.toolchain.programs import Programs

SHARED_BASE = 0x50000000         # the first process's address of the area
SHARED_STRIDE = 0x08000000       # each next process sees it this much higher


@dataclass
class Booted:
    """A finished run: the kernel, its report, its console, its host time."""
    kernel: Kernel
    report: dict
    stdout: str
    stderr: str
    seconds: float

    def status(self, pid):
        return next(p["status"] for p in self.report["processes"]
                    if p["pid"] == pid)

    @property
    def stats(self):
        return self.report["stats"]

    @property
    def statuses(self):
        return [p["status"] for p in self.report["processes"]]


def map_shared(k, procs, npages):
    """Map npages fresh zeroed frames into every process of procs, at
    SHARED_BASE + i * SHARED_STRIDE for the i-th; returns the addresses."""
    frames = [k.vm.alloc_zeroed() for _ in range(npages)]
    vas = []
    for i, p in enumerate(procs):
        va = SHARED_BASE + i * SHARED_STRIDE
        for f in frames:
            k.frames.incref(f)
        p.aspace.map_pages(va, frames, PTE_P | PTE_U | PTE_W)
        p.aspace.add_region(Region(va, va + npages * PAGE_SIZE, True,
                                   RegionKind.SHARED, tag="harness"))
        vas.append(va)
    for f in frames:
        k.frames.decref(f)       # the PTEs hold the frames from now on
    return vas


def boot_shared(specs, npages=0, memory=128 << 20, programs=None, **kw):
    """Start one process per (name, arg_of) in specs, in order, share
    npages among them, run to the end. arg_of(va) gives the spawn argument
    from the process's shared address (None when npages is 0); kw goes to
    new_kernel (quantum, cpus, seed, check)."""
    out, err = io.BytesIO(), io.BytesIO()
    programs = programs or Programs()
    for name, _ in specs:
        if programs.get(name) is None:
            raise LookupError(f"no program {name!r}")
    k = new_kernel(programs, memory=memory, console=Console(out, err), **kw)
    procs = [k.create_process(name) for name, _ in specs]
    vas = map_shared(k, procs, npages) if npages else [None] * len(procs)
    for p, (_, arg_of), va in zip(procs, specs, vas):
        p.main_thread().ctx.set("eax", arg_of(va) & 0xFFFFFFFF)
    t0 = time.perf_counter()
    k.run()
    seconds = time.perf_counter() - t0
    return Booted(k, build_report(k), out.getvalue().decode("latin-1"),
                  err.getvalue().decode("latin-1"), seconds)
