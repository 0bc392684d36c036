"""`--check` costs: the incremental invariant checker (the default) against
the unchecked run on the 64 MiB touch program (the full recount after each
of its 16,384 faults takes minutes, so it is not timed here), and both
checkers against the unchecked run on `make run`'s demos; the fuzzer's programs per second checking every event
incrementally against the full recount after every 8th. Each figure is the
best of a few runs measured here, one after the other."""

import io
import time

from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.fuzz.campaign import fuzz
from tools.toolchain.programs import Programs
from tools.cmdline import no_options

REPEAT = 3
DEMOS = ["family", "shmshare", "cow", "offlist", "abslist"]
FUZZ_CASES = 200


def _run_seconds(names, check):
    """Seconds in Kernel.run for one boot of names (check: new_kernel's)."""
    k = new_kernel(Programs(), check=check,
                   console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(names)
    t = time.process_time()
    k.run()
    return time.process_time() - t


def _best(names, check, repeat=REPEAT):
    return min(_run_seconds(names, check) for _ in range(repeat))


def _fuzz_rate(check_every, recount):
    """Programs per second of a fixed campaign (seed 0)."""
    t = time.process_time()
    c = fuzz(seed=0, cases=FUZZ_CASES, cpus="mix", check_every=check_every,
             recount=recount)
    return c.cases / (time.process_time() - t)


def bench_check():
    """{figure: value}: the 64 MiB touch program unchecked and incremental
    (target <= 3x); the demos together;
    fuzz programs/s at check-every-1 (incremental) and check-every-8
    (full)."""
    touch = ["shm_64mib_test"]
    f = {"touch_off_s": _best(touch, False),
         "touch_incremental_s": _best(touch, True)}
    demos = [[name] for name in DEMOS]
    for kind, check in (("off", False), ("incremental", True),
                        ("full", "full")):
        f[f"demos_{kind}_s"] = sum(_best(d, check) for d in demos)
    f["fuzz_incremental_every_1"] = _fuzz_rate(1, False)
    f["fuzz_full_every_8"] = _fuzz_rate(8, True)
    return f


if __name__ == "__main__":
    no_options("tools.bench.check", __doc__)
    for name, value in bench_check().items():
        print(f"{name:28} {value:10.3f}")
