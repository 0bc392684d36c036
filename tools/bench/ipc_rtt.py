"""The message round trip alone, against its yardstick.

`python -m tools.bench.ipc_rtt [--repeat R] [--rounds N]` measures only the
two figures `make bench` divides for its "message round trip" row: the bare
Unicorn hook round trip (tools/bench/main.py) and the message round trip
(send + recv each way, tools/bench/ipc.py), in the same run, and prints
both and their ratio. It takes seconds where the whole IPC bench takes a
minute, so a change to the message path can be measured back to back.
"""

import argparse
import sys

from tools.bench.ipc import _best, _programs
from tools.bench.main import bare_hook_seconds

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
    hook = min(hooks) * 1e6
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
    args = ap.parse_args(argv)
    if args.rounds <= SHORT:
        ap.error(f"--rounds must be more than {SHORT}")
    f = round_trip(max(1, args.repeat), args.rounds)
    print(f"bare hook round trip: {f['hook_us']:.2f} us")
    print(f"message round trip (send+recv each way): {f['message_us']:.2f} us"
          f" = {f['ratio']:.2f}x the bare hook")
    return 0


if __name__ == "__main__":
    sys.exit(main())
