"""fork and copy-on-write figures for `make bench` (tools/bench/main.py divides
them by the bare hook round trip it measures):

- fork of a process with 1 MiB of touched private memory: the kernel's time
  inside the fork call (host clock around the handler), and the part of it
  spent in AddressSpace.fork (the page tables' copy) per page-table page;
- a copy-on-write write fault that copies (the child still shares every
  page) and one that reuses (the child has gone: the writer is the last
  one naming the frame), each a guest loop of one write per page timed
  between two getuid() markers;
- fork + child exit + parent wait, timed the same way.
Best of REPEAT runs each."""

import io
import statistics
import time

from kernel import systable as sc
from kernel.mm.vm import AddressSpace
from kernel.kernel import Console, Kernel
from kernel.syscall import Sys
from tools.toolchain.programs import Images
from tools.cmdline import no_options

PAGES = 256                      # 1 MiB
FORKS = 50
REPEAT = 3

MARK = "\n    mov eax, SYS_GETUID\n    int 0x80\n"
EXIT = "\n    mov eax, SYS_EXIT\n    xor ebx, ebx\n    int 0x80\n"


def touch(label):
    """Write one word of each of the PAGES pages at mem."""
    return f"""
    lea edi, [mem]
    mov esi, {PAGES}
{label}:
    mov dword ptr [edi], esi
    add edi, 4096
    dec esi
    jnz {label}
"""


# FORKS times: fork a child that exits at once, wait for it, then write
# every page again (each write a cow-reuse fault: the child is gone). Like
# any process it has a stack page too (the push): two page tables.
FORK_LOOP = "\n    push eax\n    pop eax\n" + touch("t0") + f"""
    mov ebp, {FORKS}
again:
""" + MARK + """
    mov eax, SYS_FORK
    int 0x80
    test eax, eax
    jz child
    mov ebx, eax
    mov eax, SYS_WAIT
    xor ecx, ecx
    int 0x80
""" + MARK + touch("t1") + MARK + """
    dec ebp
    jnz again
""" + EXIT + """
child:
""" + EXIT + """
.align 4096
mem: .zero 0x100000
"""
# Fork a child that sleeps in recv (so it still names every frame) while
# the parent writes every page (each write a cow-copy fault); then send it
# the empty message that ends its sleep.
COPY = touch("t0") + """
    mov eax, SYS_FORK
    int 0x80
    test eax, eax
    jz sleeper
    mov ebp, eax
""" + MARK + touch("t1") + MARK + """
    mov eax, SYS_SEND
    mov ebx, ebp
    xor ecx, ecx
    xor edx, edx
    int 0x80
    mov eax, SYS_WAIT
    mov ebx, -1
    xor ecx, ecx
    int 0x80
""" + EXIT + """
sleeper:
    mov eax, SYS_RECV
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    int 0x80
""" + EXIT + """
.align 4096
mem: .zero 0x100000
"""


def _run(src, extra=None):
    """Run src alone; returns (getuid marker times, [(fork handler seconds,
    AddressSpace.fork seconds, the child's page-table count)])."""
    k = Kernel(Images.assembled({"f": src}),
               console=Console(io.BytesIO(), io.BytesIO()))
    marks, forks, copies = [], [], []
    getuid, fork = sc.SYSCALLS[Sys.GETUID], sc.SYSCALLS[Sys.FORK]
    aspace_fork = AddressSpace.fork

    def copy_tables(self):
        t = time.perf_counter()
        child = aspace_fork(self)
        copies.append(time.perf_counter() - t)
        return child

    def marked(*args):
        marks.append(time.perf_counter())
        return getuid(*args)

    def timed(k_, p, *args):
        t = time.perf_counter()
        r = fork(k_, p, *args)
        dt = time.perf_counter() - t
        child = k_.procs.get(r)
        forks.append((dt, copies[-1], len(child.aspace.tables)))
        return r
    sc.SYSCALLS[Sys.GETUID], sc.SYSCALLS[Sys.FORK] = marked, timed
    AddressSpace.fork = copy_tables
    try:
        k.boot(["f"])
        k.run()
    finally:
        sc.SYSCALLS[Sys.GETUID], sc.SYSCALLS[Sys.FORK] = getuid, fork
        AddressSpace.fork = aspace_fork
    if any(p.status != 0 for p in k.procs):
        raise RuntimeError("bench_fork: a bench program failed")
    return marks, forks


def bench_fork():
    """The fork figures, as a dict (microseconds)."""
    fork_us, tables_us, round_us, reuse_us, copy_us = [], [], [], [], []
    for _ in range(REPEAT):
        marks, forks = _run(FORK_LOOP)
        fork_us += [dt * 1e6 for dt, _, _ in forks]
        tables = forks[0][2]
        tables_us += [ct * 1e6 / n for _, ct, n in forks]
        trips = marks[0::3], marks[1::3], marks[2::3]
        round_us.append(min(b - a for a, b in zip(trips[0], trips[1])) * 1e6)
        reuse_us.append(min(c - b for b, c in zip(trips[1], trips[2])) * 1e6
                        / PAGES)
        marks, _ = _run(COPY)
        copy_us.append((marks[1] - marks[0]) * 1e6 / PAGES)
    best = min(fork_us)
    return {"fork_1mib_us": best,
            "fork_1mib_median_us": statistics.median(fork_us),
            "page_tables_copied": tables,
            "fork_us_per_page_table": best / tables,
            "table_copy_us_per_page_table": min(tables_us),
            "cow_copy_fault_us": min(copy_us),
            "cow_reuse_fault_us": min(reuse_us),
            "fork_exit_wait_us": min(round_us)}


if __name__ == "__main__":
    no_options("tools.bench.fork", __doc__)
    for name, value in bench_fork().items():
        print(f"{name:28} {value:10.2f}")
