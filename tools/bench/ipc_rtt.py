"""The message round trip alone, against its yardstick.

`python -m tools.bench.ipc_rtt [--repeat R] [--rounds N] [--clock cpu]`
measures only the two figures `make bench` divides for its "message round
trip" row: the bare Unicorn hook round trip (tools/bench/main.py) and the
message round trip (send + recv each way, tools/bench/ipc.py), in the same
run, and prints both and their ratio. It takes seconds where the whole IPC
bench takes a minute, so a change to the message path can be measured back
to back. With `--clock cpu` both are timed in host CPU time of this thread
(steadier than wall time on a machine other jobs keep busy: time spent
waiting for a core does not count), each as the difference of a long and
a short run, so that set-up cancels out.
"""

import argparse
import sys
import time

from emu import bare
from tools.bench.common import GETPID
from tools.bench.ipc import _best, _programs
from tools.bench.ipc_harness import boot_shared
from tools.bench.main import CALLS, bare_body, bare_hook_seconds

SHORT = 50                       # round trips of the short run


def round_trip(repeat=3, rounds=1000):
    """{"hook_us", "message_us", "ratio"}: each time the best of repeat
    rounds, each round one bare hook measurement and one ping-pong of SHORT
    and of `rounds` round trips (interleaved, so that both figures see the
    same moments of a shared machine); the message time per round trip is
    the difference of the two ping-pongs."""
    progs = _programs(1)
    hooks, runs = [], {SHORT: [], rounds: []}
    for _ in range(repeat):
        hooks.append(bare_hook_seconds())
        for n, times in runs.items():
            times.append(_best([("ipc_pingpong", lambda va: n)],
                               progs).seconds)
    return _figures(min(hooks), runs, rounds)


def round_trip_cpu(repeat=3, rounds=1000):
    """round_trip() in host CPU time of this thread: the best of repeat
    interleaved rounds of a long and a short run of each kind."""
    progs = _programs(1)
    hook_runs, runs = {CALLS: [], CALLS // 10: []}, {SHORT: [], rounds: []}
    for _ in range(repeat):
        for calls, times in hook_runs.items():
            code, end = bare_body(GETPID.format(n=calls))
            times.append(_cpu_seconds(
                lambda: bare.hook_round_trip_seconds(code, end)))
        for n, times in runs.items():
            times.append(_cpu_seconds(lambda: boot_shared(
                [("ipc_pingpong", lambda va: n)], programs=progs)))
    hook = (min(hook_runs[CALLS]) - min(hook_runs[CALLS // 10])) / (
        CALLS - CALLS // 10)
    return _figures(hook, runs, rounds)


def _cpu_seconds(fn):
    t = time.thread_time()
    fn()
    return time.thread_time() - t


def _figures(hook_s, runs, rounds):
    hook = hook_s * 1e6
    msg = (min(runs[rounds]) - min(runs[SHORT])) / (rounds - SHORT) * 1e6
    return {"hook_us": hook, "message_us": msg, "ratio": msg / hook}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_ipc_rtt", description=__doc__)
    ap.add_argument("--repeat", type=int, default=3, metavar="R",
                    help="best of R interleaved rounds for each time "
                         "(default 3)")
    ap.add_argument("--rounds", type=int, default=1000, metavar="N",
                    help=f"round trips of the long run (more than {SHORT}; "
                         "default 1000)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: host wall time, as make bench measures "
                         "(default); cpu: host CPU time of this thread, "
                         "steadier when other jobs share the cores")
    args = ap.parse_args(argv)
    if args.rounds <= SHORT:
        ap.error(f"--rounds must be more than {SHORT}")
    measure = round_trip_cpu if args.clock == "cpu" else round_trip
    f = measure(max(1, args.repeat), args.rounds)
    print(f"bare hook round trip: {f['hook_us']:.2f} us ({args.clock} time)")
    print(f"message round trip (send+recv each way): {f['message_us']:.2f} us"
          f" = {f['ratio']:.2f}x the bare hook")
    return 0


if __name__ == "__main__":
    sys.exit(main())
