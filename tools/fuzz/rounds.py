"""A campaign as rounds of units run by an executor (tools/fuzz/cluster.py):
each unit boots for a few seconds (or a share of the cases) from its own
seed; guided units draw programs from the corpus as it stood when the round
began (tools/fuzz/corpus.py) and from the unit's own finds since, and
measure kernel coverage (tools/fuzz/coverage.py). Between rounds the parts
are merged here, in unit order, so a cases-bounded campaign gives the same
result on any executor with the same number of units per round."""

import random
import time
from dataclasses import dataclass, field

from tools.fuzz import campaign as fz
from tools.fuzz import cluster
from tools.fuzz.corpus import Corpus, Drawer, Entry, features
from tools.fuzz.coverage import KernelCoverage

UNIT_SECONDS = 2.0              # a unit of a time-bounded campaign
UNIT_CASES = 160                # a unit of a case-bounded one (20 boots)


@dataclass
class Unit:
    seed: int
    cases: object                   # programs to run, or None
    seconds: object                 # seconds to run, or None
    cpus: object
    boot: dict                      # campaign.run_boot's keyword arguments
    guided: bool                    # draw from the corpus
    measure: int                    # coverage on every Nth boot (0: none)
    corpus: list = field(default_factory=list)      # corpus.Entry's
    seen: set = field(default_factory=set)          # features known


@dataclass
class Part:
    """What one unit did: its campaign, the boots that reached features
    new to the unit (corpus.Entry's), where and how long it ran (wall
    and CPU seconds of its process)."""
    campaign: object
    found: list
    worker: str
    seconds: float
    cpu: float


def run_unit(_shared, unit):
    """Run one unit's boots (in a worker)."""
    rng, c = random.Random(unit.seed), fz.Campaign()
    drawer = Drawer(unit.corpus) if unit.guided else Blind()
    kc = KernelCoverage() if unit.measure else None
    known, found, n = set(unit.seen), [], 0
    t0, cpu0 = time.monotonic(), time.process_time()
    with fz._Recorder(c):
        while (unit.cases is None or c.cases < unit.cases) and \
                (unit.seconds is None or time.monotonic() - t0 < unit.seconds):
            errors, statuses = set(c.results), set(c.statuses)
            traced = kc is not None and n % unit.measure == 0
            mark = len(c.violations)
            fz.run_boot(rng, c, cpus=unit.cpus, maker=drawer,
                        measure=kc.measure if traced else
                        fz.contextlib.nullcontext, **unit.boot)
            if unit.guided and drawer.last is not None:
                for v in c.violations[mark:]:       # not drawn from its seed
                    v.update(guided=True, starts=drawer.spec.starts)
            n += 1
            got = features(kc.fresh() if traced else (),
                           set(c.results) - errors, set(c.statuses) - statuses)
            if got - known and drawer.spec is not None:
                s = drawer.spec
                found.append(Entry(tuple(s.texts.values()), s.mode, s.cpus,
                                   frozenset(got)))
                known |= got
                if unit.guided:
                    drawer.keep(found[-1])
    c.seconds = time.monotonic() - t0
    return Part(c, found, cluster.whoami(), c.seconds,
                time.process_time() - cpu0)


class Blind:
    """campaign.make_spec as a maker that remembers the last spec (None
    while a draw that raised is the last)."""

    spec = None

    def __call__(self, *args):
        self.spec = None
        self.spec = fz.make_spec(*args)
        return self.spec


def unit_seed(seed, rnd, j):
    return random.Random(f"{seed}/{rnd}/{j}").getrandbits(63)


class Run:
    """A campaign's merged state, updated as parts come in."""

    def __init__(self):
        self.total = fz.Campaign()
        self.corpus = Corpus()
        self.workers = {}           # worker -> [cases, seconds]
        self.cpu = 0.0              # CPU seconds the units took
        self.t0 = time.monotonic()

    def add(self, part):
        self.total.merge(part.campaign)
        w = self.workers.setdefault(part.worker, [0, 0.0])
        w[0] += part.campaign.cases
        w[1] += part.seconds
        self.cpu += part.cpu

    def offer(self, part):
        for e in part.found:
            self.corpus.offer(e.texts, e.found, e.mode, e.cpus)

    def elapsed(self):
        return time.monotonic() - self.t0


def campaign(seed=0, cases=None, seconds=None, cpus=1, executor=None,
             per_round=None, guided=True, measure=1, progress=None,
             **boot):
    """Run a campaign on executor (default: forked processes, one per
    core) in rounds of per_round units (default: one per worker) until
    cases programs or seconds have been spent, measuring kernel coverage
    on every measure-th boot (0: never; tracing doubles a boot's time). progress.update(run) is
    called as each unit ends and after each round. Returns the Run."""
    own = executor is None
    ex = executor or cluster.Local(cluster.default_jobs())
    n = per_round or ex.workers()
    run, rnd = Run(), 0
    try:
        while not _done(run, cases, seconds):
            units = [_unit(seed, rnd, j, n, run, cases, seconds, cpus, boot,
                           guided, measure) for j in range(n)]
            parts = [None] * n
            for i, part in ex.run(run_unit, units):
                parts[i] = part
                run.add(part)
                if progress:
                    progress.update(run)
            for part in parts:
                run.offer(part)
            if progress:
                progress.update(run)
            rnd += 1
    finally:
        if own:
            ex.close()
    run.total.seconds = run.elapsed()
    return run


def _done(run, cases, seconds):
    if cases is not None and run.total.cases >= cases:
        return True
    return seconds is not None and run.elapsed() >= seconds


def _unit(seed, rnd, j, n, run, cases, seconds, cpus, boot, guided,
          measure):
    share = None
    if cases is not None:
        share = -(-min(cases - run.total.cases, n * UNIT_CASES) // n)
    span = None
    if seconds is not None:
        span = max(0.5, min(UNIT_SECONDS, seconds - run.elapsed()))
    us = unit_seed(seed, rnd, j)
    pool = run.corpus.draw(random.Random(us)) if guided else []
    return Unit(us, share, span, cpus, boot, guided, measure, pool,
                set(run.corpus.seen))
