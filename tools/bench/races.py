"""`--races` costs: a run that touches no shared memory must
not pay for the detector (its memory hook is installed only while a
segment is attached), and race.c's slowdown under it is reported. Each
figure is a ratio of two runs measured here, one after the other."""

import io
import time

from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.toolchain.programs import Images, Programs
from tools.cmdline import no_options

REPEAT = 5
# Compute plus stack traffic: loads and stores, none of them shared.
PRIVATE = """
    mov esi, {n}
top:
    push eax
    add eax, ecx
    pop ecx
    dec esi
    jnz top
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
"""


def _run_seconds(programs, start, races, **kw):
    """Seconds in Kernel.run for one boot; start(k) creates the processes."""
    k = new_kernel(programs, races=races,
                   console=Console(io.BytesIO(), io.BytesIO()), **kw)
    start(k)
    t = time.perf_counter()
    k.run()
    dt = time.perf_counter() - t
    assert all(p.status == 0 for p in k.procs), "bench program failed"
    return dt


def _best_pair(programs, start, **kw):
    """Best-of-REPEAT seconds without and with --races, interleaved."""
    off, on = [], []
    for _ in range(REPEAT):
        off.append(_run_seconds(programs, start, False, **kw))
        on.append(_run_seconds(programs, start, True, **kw))
    return min(off), min(on)


def bench_races(iters=2_000_000):
    """{figure: value}: private-memory speed with --races as a fraction of
    without (target >= 0.9), and race.c's slowdown (target <= 20)."""
    images = Images.assembled({"p": PRIVATE.format(n=iters)})
    off, on = _best_pair(images, lambda k: k.boot(["p", "p"]))
    progs = Programs()
    plain_off, plain_on = _best_pair(
        progs, lambda k: k.create_process("race", arg=1), cpus=2, seed=7)
    all_off, all_on = _best_pair(
        progs, lambda k: k.create_process("race", arg=0), cpus=2, seed=7)
    return {"private_off_s": off, "private_on_s": on,
            "private_speed_ratio": off / on,
            "race_plain_off_s": plain_off, "race_plain_on_s": plain_on,
            "race_plain_slowdown": plain_on / plain_off,
            "race_all_off_s": all_off, "race_all_on_s": all_on,
            "race_all_slowdown": all_on / all_off}


if __name__ == "__main__":
    no_options("tools.bench.races", __doc__)
    for name, value in bench_races().items():
        print(f"{name:24} {value:10.3f}")
