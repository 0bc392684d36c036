"""The figures: PAE against 32-bit paging on the same work, and
large pages against 4 KiB pages (attach cost, TLB reach). Ratios measured
in one run; each figure is the best of a few repetitions."""

import io
import time

from emu.walk import WRITE
from kernel.mm.hugetlb import SHM_HUGETLB
from kernel.kernel import Console, Kernel
from kernel.proc.loader import flat_image
from tools.toolchain.asm import assemble_source
from tools.bench.common import EXIT, GETPID, LOOP, LOOP_INSNS, YIELD, \
    kernel_seconds
from tools.cmdline import no_options

REPEAT = 3
REACH_PASSES = 128
SEG = 64 << 20
TOUCH = """
    mov eax, SYS_SHM_CREATE
    xor ebx, ebx
    mov ecx, {size}
    mov edx, {mode}
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    xor ecx, ecx
    xor edx, edx
    int 0x80
    mov ebp, {passes}
next_pass:
    mov edi, eax
    mov ecx, {pages}
touch:                              # one store per 4 KiB page
    mov dword ptr [edi], ecx
    add edi, 4096
    dec ecx
    jnz touch
    dec ebp
    jnz next_pass
""" + EXIT


def _run(src, paging, n=1):
    """Seconds in Kernel.run for n processes of src under paging."""
    return kernel_seconds({"b": src}, ["b"] * n, paging=paging)


def best(fn):
    return min(fn() for _ in range(REPEAT))


def touch_src(passes, mode=0o600, size=SEG):
    return TOUCH.format(size=size, mode=mode, passes=passes,
                        pages=size >> 12)


def mode_costs():
    """Compute, getpid, yield and demand-zero faults under both modes."""
    n_loop, n_calls, faults = 20_000_000, 50_000, 4096
    work = {
        "compute (M instr/s)": (LOOP.format(n=n_loop) + EXIT, 1,
                                lambda t: n_loop * LOOP_INSNS / t / 1e6),
        "getpid round trip (us)": (GETPID.format(n=n_calls) + EXIT, 1,
                                   lambda t: t / n_calls * 1e6),
        "yield with a switch (us)": (YIELD.format(n=n_calls // 2) + EXIT, 2,
                                     lambda t: t / n_calls * 1e6),
        "demand-zero fault (us)": (touch_src(1, size=faults << 12), 1,
                                   lambda t: t / faults * 1e6)}
    rows = []
    for name, (src, n, fig) in work.items():
        v32 = fig(best(lambda: _run(src, "32", n)))
        vpae = fig(best(lambda: _run(src, "pae", n)))
        target = ">= 0.95" if "compute" in name else "<= 1.2"
        rows.append((f"{name}: 32-bit", v32, None, None))
        rows.append(("  same under PAE", vpae, vpae / v32, target))
    return rows


def attach_seconds(paging, huge):
    """One shm_attach of a touched 64 MiB segment into a second process."""
    k = Kernel({"x": flat_image("x", assemble_source(EXIT))},
               console=Console(io.BytesIO(), io.BytesIO()), paging=paging)
    a, b = k.boot(["x", "x"])
    sid = k.shm.create(a, 0, SEG, 0o600 | (SHM_HUGETLB if huge else 0))
    va = k.shm.attach(a, sid, 0, 0)
    step = k.vm.mode.large_size if huge else 4096
    for off in range(0, SEG, step):
        a.aspace.translate(va + off, WRITE)
    t = time.perf_counter()
    vb = k.shm.attach(b, sid, 0, 0)
    dt = time.perf_counter() - t
    assert vb > 0
    return dt


def large_pages():
    """Attach cost and TLB reach (stores to every 4 KiB page of 64 MiB, per
    second, once every page is present) with 4 KiB and large pages."""
    rows = []
    for paging in ("32", "pae"):
        small = best(lambda: attach_seconds(paging, False))
        large = best(lambda: attach_seconds(paging, True))
        rows.append((f"attach touched 64 MiB, 4 KiB pages, {paging} (ms)",
                     small * 1e3, None, None))
        rows.append(("  same, large pages (ms)", large * 1e3,
                     small / large, "reported (speed-up)"))
        reach = {}
        for huge in (False, True):
            mode = 0o600 | (SHM_HUGETLB if huge else 0)
            t1 = best(lambda: _run(touch_src(1, mode), paging))
            tn = best(lambda: _run(touch_src(REACH_PASSES + 1, mode),
                                   paging))
            reach[huge] = REACH_PASSES * (SEG >> 12) / (tn - t1)
        rows.append((f"TLB reach, 4 KiB pages, {paging} (M pages/s)",
                     reach[False] / 1e6, None, None))
        rows.append(("  same, large pages (M pages/s)", reach[True] / 1e6,
                     reach[True] / reach[False], "reported (speed-up)"))
    return rows


def main():
    print(f"{'figure':52} {'value':>10} {'ratio':>8}  target")
    for section in (mode_costs, large_pages):
        for name, value, ratio, target in section():
            r = f"{ratio:8.2f}" if ratio is not None else " " * 8
            print(f"{name:52} {value:10.2f} {r}  {target or ''}", flush=True)


if __name__ == "__main__":
    no_options("tools.bench.pae", __doc__)
    main()
