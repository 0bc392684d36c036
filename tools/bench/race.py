"""The race finder's figures for `make bench`: `ia32k race` on
100 seeds of race.c with --jobs 2 against --jobs 1, and PCT against random
slicing: how many seeds each needs to first hit rare_race.c's depth-2 bug,
the median over 20 trials. `python -m tools.bench.race` prints them."""

import os
import statistics
import time

from tools.race import finder as rf
from tools.toolchain.programs import Programs

from tools import ROOT
from tools.cmdline import no_options
RACE = "userland/demo/race.c"
RARE = "userland/demo/rare_race.c"
TRIALS = 20
TRIAL_STRIDE = 10_000          # trial t tries seeds t*STRIDE, t*STRIDE+1...
CAP = 2000                     # seeds per trial at most


def scenario(path, **kw):
    progs = Programs()
    return rf.Scenario(progs, [progs.add(ROOT / path)], [path], **kw)


def jobs_speedup(nseeds=100, jobs=2):
    """Seconds for `ia32k race` over nseeds seeds of race.c with one worker
    and with `jobs` (pool start-up included), and the groups (equal)."""
    sc = scenario(RACE)
    seeds = list(range(nseeds))
    t, c = time.perf_counter(), time.process_time()
    one = rf.find_races(sc, seeds, jobs=1)
    t1, serial_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), os.times()
    many = rf.find_races(sc, seeds, jobs=jobs)
    tn, c2 = time.perf_counter() - t, os.times()
    workers = sum(c2[:4]) - sum(c[:4])      # this process and its workers
    same = [o.seeds for o in one.outcomes] == [o.seeds for o in many.outcomes]
    return {"serial_s": t1, "parallel_s": tn, "speedup": t1 / tn,
            "cores_busy": workers / tn, "serial_cores_busy": serial_cpu / t1,
            "idle_speedup": jobs * serial_cpu / workers,
            "same_groups": same,
            "outcomes": len(one.outcomes)}


def seeds_to_first_hit(sc, start, jobs=2, cap=CAP):
    """How many seeds from `start` on, in order, until rare_race's stale
    read (the parent exits 1); cap + 1 when none within cap."""
    for n, r in enumerate(rf.results(sc, range(start, start + cap), jobs), 1):
        if r.statuses[0] == 1:
            return n
    return cap + 1


def pct_vs_random(trials=TRIALS, jobs=2):
    """Median seeds to the first hit of the depth-2 bug, per schedule."""
    out = {}
    for schedule in ("random", "pct"):
        sc = scenario(RARE, cpus=1, quantum=200, schedule=schedule)
        if schedule == "pct":
            sc.steps = rf.calibrate_steps(sc, 0)
        counts = [seeds_to_first_hit(sc, t * TRIAL_STRIDE, jobs)
                  for t in range(trials)]
        out[schedule] = {"median": statistics.median(counts),
                         "counts": counts}
    return out


def bench_race():
    """Rows for tools/bench/main.py: (name, value, ratio, target)."""
    j = jobs_speedup()
    p = pct_vs_random()
    r, q = p["random"]["median"], p["pct"]["median"]
    return [("ia32k race, 100 seeds of race.c, --jobs 1 (s)", j["serial_s"],
             None, None),
            ("same, --jobs 2 (s; ratio: speed-up)", j["parallel_s"],
             j["speedup"], ">= 1.7" + ("" if j["same_groups"] else
                                       " GROUPS DIFFER")),
            ("  CPUs kept busy: --jobs 1 / --jobs 2 (of 2)",
             j["serial_cores_busy"], j["cores_busy"],
             "reported (low: the machine is shared)"),
            ("  speed-up on 2 idle cores (2 x CPU s serial / parallel)",
             j["idle_speedup"], None, ">= 1.7 (derived)"),
            ("seeds to a depth-2 bug, random (median of 20)", r, None, None),
            ("same, pct (ratio: random / pct)", q, r / q, "reported")]


if __name__ == "__main__":
    no_options("tools.bench.race", __doc__)
    j = jobs_speedup()
    print(j)
    print(pct_vs_random())
