"""What message passing costs against shared memory, on one emulated machine.

bench_ipc() returns the figures (for tools/bench/main.py); `python -m
tools.bench.ipc [--mib N]` prints them as a table. Every time is host time
of Kernel.run() (boot and program builds excluded), the best of several
runs.
Per-operation times are differences between a long and a short run, so
process start-up cancels out.

The ring uses real shm_create/shm_attach when the kernel has them; until
then its frames are mapped by tools/bench/ipc_harness.py (the same PTEs naming
the same frames, minus one attach call), and the result says which.
"""

import argparse
import sys

from kernel.proc.loader import image_from_bytes
from kernel.syscall import Sys
from kernel.systable import SYSCALLS
from tools.toolchain.asm import assemble_source
from tools.bench.ipc_harness import boot_shared
from tools.toolchain.programs import Programs

REPEAT = 3
COUNT_ONLY = 10 ** 12            # a --quantum no run reaches: counts only
CHUNK = 4096
HOOK_LOOP = """
    mov esi, eax
again:
    mov eax, SYS_GETPID
    int 0x80
    dec esi
    jnz again
    mov eax, SYS_EXIT; mov ebx, 0
    int 0x80
"""
RING_SIZES = {"64 KiB": 0, "1 MiB": 2}       # ring_xfer.c's size codes
ZERO_COPY = 4


def _programs(repeat=REPEAT):
    progs = Programs()
    progs.repeat = repeat
    progs.images["hook_loop"] = image_from_bytes("hook_loop",
                                                 assemble_source(HOOK_LOOP))
    return progs


def _best(specs, progs, npages=0, repeat=None, **kw):
    """Run specs repeat times; the fastest run, checked to have succeeded."""
    runs = [boot_shared(specs, npages=npages, programs=progs, **kw)
            for _ in range(repeat or progs.repeat)]
    for r in runs:
        if any(s != 0 for s in r.statuses):
            raise RuntimeError(f"{specs[0][0]} failed: {r.stderr}")
    return min(runs, key=lambda r: r.seconds)


def _per_op(progs, spec_of, small, large, ops_per_unit=1):
    """Microseconds per operation from two run lengths."""
    t_small = _best(spec_of(small), progs).seconds
    t_large = _best(spec_of(large), progs).seconds
    return (t_large - t_small) / ((large - small) * ops_per_unit) * 1e6


def hook_round_trip_us(progs):
    """int 0x80 into the kernel and back (getpid)."""
    return _per_op(progs, lambda n: [("hook_loop", lambda va: n)], 200, 5000)


def message_round_trip_us(progs):
    """send + recv each way between two processes."""
    return _per_op(progs, lambda n: [("ipc_pingpong", lambda va: n)], 50, 1000)


def futex_wake_to_run_us(progs):
    """One hop of a futex ping-pong: the waker's futex_wake, its futex_wait
    (on one CPU the woken runs only once the waker sleeps), the switch."""
    def specs(param):
        return [("futex_pingpong", lambda va: va | param << 5 | 1),
                ("futex_pingpong", lambda va: va | param << 5 | 2)]
    small, large = 4, 100                    # param = rounds / 16
    t = {p: _best(specs(p), progs, npages=1).seconds for p in (small, large)}
    return (t[large] - t[small]) / ((large - small) * 16 * 2) * 1e6


def _transfer(specs, progs, mib, npages=0):
    """Figures of one transfer: the fastest uncounted run for time, calls
    and switches; one more run counting instructions (--quantum mode with
    a quantum never reached, so nothing is preempted) for those."""
    r = _best(specs, progs, npages)
    counted = _best(specs, progs, npages, repeat=1, quantum=COUNT_ONLY)
    s = r.report["stats"]
    calls = s["syscalls"]
    return {"seconds": r.seconds, "syscalls": calls,
            "context_switches": s["context_switches"],
            "bytes_per_syscall": (mib << 20) / calls if calls else None,
            "futex_waits": r.report["ipc"]["futex_waits"],
            "guest_instructions": counted.report["stats"]["instructions"]}


def shm_available():
    return int(Sys.SHM_CREATE) in SYSCALLS


def transfer_by_messages(progs, mib):
    return _transfer([("msg_xfer", lambda va: mib << 5 | 1)], progs, mib)


def transfer_by_ring(progs, mib, size_code, zero_copy):
    """The ring transfer: launched on shm when it exists, else premapped."""
    param = mib | size_code << 5
    if shm_available():
        return _transfer([("ring_xfer", lambda va: param << 5 | zero_copy)],
                         progs, mib)
    npages = (128 + ((64 << 10) << 2 * size_code)) // CHUNK + 1
    return _transfer([("ring_xfer", lambda va: va | param << 5 | 1 | zero_copy),
                      ("ring_xfer", lambda va: va | param << 5 | 2 | zero_copy)],
                     progs, mib, npages)


def bench_ipc(mib=16, repeat=REPEAT):
    """The figures, as a dict (times in seconds / microseconds);
    each time is the best of repeat runs."""
    progs = _programs(repeat)
    hook = hook_round_trip_us(progs)
    rtt = message_round_trip_us(progs)
    futex = futex_wake_to_run_us(progs)
    transfers = {"messages": transfer_by_messages(progs, mib)}
    for label, code in RING_SIZES.items():
        transfers[f"ring {label} copying"] = transfer_by_ring(progs, mib, code, 0)
        transfers[f"ring {label} zero-copy"] = transfer_by_ring(
            progs, mib, code, ZERO_COPY)
    msg_s = transfers["messages"]["seconds"]
    return {
        "hook_round_trip_us": hook,
        "message_round_trip_us": rtt,
        "message_round_trip_vs_hook": rtt / hook,
        "futex_wake_to_run_us": futex,
        "futex_wake_to_run_vs_hook": futex / hook,
        "transfer_mib": mib,
        "ring_via": "shm" if shm_available() else
                    "premapped frames: shm calls not merged yet",
        "transfers": transfers,
        "speedup_vs_messages": {k: msg_s / v["seconds"]
                                for k, v in transfers.items()},
    }


def table(f):
    """The figures as a side-by-side table."""
    lines = [f"{f['transfer_mib']} MiB producer -> consumer, 4 KiB chunks "
             f"(ring via {f['ring_via']})", "",
             "| method | host s | guest instructions | syscalls | switches "
             "| bytes/syscall | futex sleeps | vs messages |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in f["transfers"].items():
        bps = f"{t['bytes_per_syscall']:.0f}" if t["bytes_per_syscall"] else "-"
        lines.append(f"| {name} | {t['seconds']:.4f} | "
                     f"{t['guest_instructions']:,} | {t['syscalls']} | "
                     f"{t['context_switches']} | {bps} | {t['futex_waits']} | "
                     f"{f['speedup_vs_messages'][name]:.1f}x |")
    lines += ["", f"getpid round trip under the kernel: {f['hook_round_trip_us']:.1f} us",
              f"message round trip (send+recv each way): "
              f"{f['message_round_trip_us']:.1f} us = "
              f"{f['message_round_trip_vs_hook']:.1f}x a getpid",
              f"futex wake-to-run (one hop): {f['futex_wake_to_run_us']:.1f} us"
              f" = {f['futex_wake_to_run_vs_hook']:.1f}x a getpid"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_ipc", description=__doc__)
    ap.add_argument("--mib", type=int, default=16, choices=range(1, 32),
                    metavar="N", help="MiB to transfer (1-31, default 16)")
    ap.add_argument("--repeat", type=int, default=REPEAT, metavar="R",
                    help=f"best of R runs each (default {REPEAT})")
    args = ap.parse_args(argv)
    print(table(bench_ipc(args.mib, max(1, args.repeat))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
