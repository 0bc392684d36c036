"""Shared memory figures for `make bench` (the lead wires bench_shm() into
tools/bench/main.py): attach of a fully touched 64 MiB segment, the demand-zero
fault round trip beside a getpid round trip, and pages per second when two
processes touch every page of one 64 MiB segment.

Guest loops are timed between two getuid() markers, so process creation
and exit stay outside the figures. Best of REPEAT runs each. A demand-zero
fault is measured twice: on frames used and freed before ("warm", the
steady state) and on frames the host has never touched since boot ("cold":
the host's own page fault on its lazily committed RAM, ~3 us, comes on top)."""

import io
import statistics
import time

from emu.walk import WRITE
from kernel import systable as sc
from kernel.kernel import Console, Kernel
from kernel.memlayout import MAX_SHM_BYTES
from kernel.syscall import Sys
from tools.toolchain.programs import Images
from tools.cmdline import no_options

PAGES = MAX_SHM_BYTES // 4096          # 16,384
REPEAT = 3
ATTACHES = 10

EXIT = "\n    mov eax, SYS_EXIT\n    xor ebx, ebx\n    int 0x80\n"
MARK = "\n    mov eax, SYS_GETUID\n    int 0x80\n"
ATTACH_NEW = f"""
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x62656e63
    mov ecx, {MAX_SHM_BYTES}
    mov edx, 0x180
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    xor ecx, ecx
    xor edx, edx
    int 0x80
    mov edi, eax
"""
TOUCH = f"""
    mov esi, {PAGES}
touch:
    mov dword ptr [edi], esi
    add edi, 4096
    dec esi
    jnz touch
"""
GETPIDS = f"""
    mov esi, {PAGES}
again:
    mov eax, SYS_GETPID
    int 0x80
    dec esi
    jnz again
"""
# Touch a private 64 MiB segment and destroy it: its frames go back warm.
WARM = f"""
    mov eax, SYS_SHM_CREATE
    xor ebx, ebx
    mov ecx, {MAX_SHM_BYTES}
    mov edx, 0x180
    int 0x80
    mov ebp, eax
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    xor ecx, ecx
    xor edx, edx
    int 0x80
    mov edi, eax
    push edi
""" + TOUCH.replace("touch", "warm") + """
    pop ebx
    mov eax, SYS_SHM_DETACH
    int 0x80
    mov ebx, ebp
    mov eax, SYS_SHM_DESTROY
    int 0x80
"""
# The second toucher: wait for the key, attach, wait until both are attached.
JOIN = """
find:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x62656e63
    int 0x80
    cmp eax, 0
    jl find
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    xor ecx, ecx
    xor edx, edx
    int 0x80
    mov edi, eax
"""
WAIT_TWO = """
    mov ebp, ebx
both:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_SHM_STAT
    mov ebx, ebp
    lea ecx, [buf]
    int 0x80
    cmp dword ptr [buf + 16], 2
    jne both
"""
BUF = "\nbuf: .zero 24\n"


def _kernel(progs):
    return Kernel(Images.assembled(progs),
                  console=Console(io.BytesIO(), io.BytesIO()))


def _marked_seconds(progs, boot):
    """Run boot to the end; seconds from the first getuid() marker to the
    last one."""
    k = _kernel(progs)
    marks, handler = [], sc.SYSCALLS[Sys.GETUID]

    def marked(*args):
        marks.append(time.perf_counter())
        return handler(*args)
    sc.SYSCALLS[Sys.GETUID] = marked
    try:
        k.boot(boot)
        k.run()
    finally:
        sc.SYSCALLS[Sys.GETUID] = handler
    if any(p.status != 0 for p in k.procs) or len(marks) < 2:
        raise RuntimeError("bench_shm: a bench program failed")
    return marks[-1] - marks[0]


def attach_ms():
    """(best, median) ms to attach a 64 MiB segment whose 16,384 pages are
    all touched, and the best ms to detach it again."""
    k = _kernel({"idle": EXIT})
    a, b = k.create_process("idle"), k.create_process("idle")
    seg_id = k.shm.create(a, 0, MAX_SHM_BYTES, 0o600)
    start = k.shm.attach(a, seg_id, 0, 0)
    for i in range(PAGES):
        a.aspace.translate(start + i * 4096, WRITE)
    times, detaches = [], []
    for _ in range(ATTACHES):
        t = time.perf_counter()
        at = k.shm.attach(b, seg_id, 0, 0)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        k.shm.detach(b, at)
        detaches.append(time.perf_counter() - t)
    return min(times) * 1e3, statistics.median(times) * 1e3, \
        min(detaches) * 1e3


def bench_shm():
    """The shared memory figures, as a dict."""
    best_ms, median_ms, detach_ms = attach_ms()
    touch = ATTACH_NEW + MARK + TOUCH + MARK + EXIT
    cold = min(_marked_seconds({"t": touch}, ["t"])
               for _ in range(REPEAT)) / PAGES
    fault = min(_marked_seconds({"t": WARM + touch}, ["t"])
                for _ in range(REPEAT)) / PAGES
    getpid = min(_marked_seconds({"g": MARK + GETPIDS + MARK + EXIT}, ["g"])
                 for _ in range(REPEAT)) / PAGES
    first = ATTACH_NEW + WAIT_TWO + MARK + TOUCH + MARK + EXIT + BUF
    second = JOIN + MARK + TOUCH + MARK + EXIT
    two = min(_marked_seconds({"a": first, "b": second}, ["a", "b"])
              for _ in range(REPEAT))
    return {"attach_64mib_touched_ms": best_ms,
            "attach_64mib_touched_median_ms": median_ms,
            "detach_64mib_touched_ms": detach_ms,
            "demand_zero_fault_us": fault * 1e6,
            "demand_zero_fault_cold_us": cold * 1e6,
            "getpid_round_trip_us": getpid * 1e6,
            "fault_per_getpid": fault / getpid,
            "two_process_touch_pages_per_s": 2 * PAGES / two}


if __name__ == "__main__":
    no_options("tools.bench.shm", __doc__)
    for name, value in bench_shm().items():
        print(f"{name:34} {value:12.2f}")
