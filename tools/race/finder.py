"""`ia32k race`: a race finder. Run one scenario under many seeds (each seed
replays one schedule exactly: `--schedule random` slices, or PCT, see
kernel/sched/pct.py), spread over worker processes, and group the seeds by
outcome: exit statuses, console output, the final contents of every shared
segment (taken as it is freed, or at the end) and, with --races, the data
races the detector reports. More than one group means the result depends on
the schedule; the summary says what differs between the groups and gives,
for each, the smallest seed and the `ia32k run` line that replays it."""

import difflib
import hashlib
import io
import multiprocessing
import shlex
import zlib
from array import array
from dataclasses import dataclass, field

from kernel.kernel import Console
from kernel.sched.pct import PctPolicy
from tools.observe.boot import new_kernel
from tools.fuzz import cluster
from tools.race.replay import Pair, SecondAccess, gdb_lines
from tools.observe.report import build_report
from tools.race.watch import RaceWatch

SCHEDULES = ("random", "pct")
MAX_WORDS_SHOWN = 8
MAX_LINES_SHOWN = 6
MAX_OUTCOMES_SHOWN = 10


@dataclass
class Scenario:
    """What every seed runs: the programs (built once), the machine, the
    schedule, and the command-line words that name them for a replay."""
    programs: object                 # tools.toolchain.programs.Programs, built
    boot: list                       # program names, booted in order
    paths: list                      # the PROGRAM arguments as given
    spawnable: list = field(default_factory=list)   # --program arguments
    cpus: int = 2
    quantum: int = 0
    memory: int = 128 << 20
    schedule: str = "random"
    depth: int = 2
    steps: int = 0
    races: bool = False
    paging: str = "32"               # --paging: "32" or "pae"
    tlb_shootdown: bool = True       # --tlb-shootdown on (off: teaching)

    def policy(self, seed):
        """The scheduler policy for seed (None: the kernel's FIFO one)."""
        if self.schedule == "pct":
            return PctPolicy(seed, self.depth, self.steps, self.quantum,
                             self.cpus)
        return None

    def replay(self, seed):
        """The `ia32k run` command line that replays seed exactly."""
        words = ["ia32k", "run", "--cpus", str(self.cpus)]
        if self.paging != "32":
            words += ["--paging", self.paging]
        if not self.tlb_shootdown:
            words += ["--tlb-shootdown", "off"]
        if self.quantum:
            words += ["--quantum", str(self.quantum)]
        if self.memory != 128 << 20:
            words += ["--memory", f"{self.memory >> 20}M"]
        words += ["--seed", str(seed)]
        if self.schedule == "pct":
            words += ["--schedule", "pct", "--depth", str(self.depth),
                      "--steps", str(self.steps)]
        if self.races:
            words.append("--races")
        for p in self.spawnable:
            words += ["--program", str(p)]
        return shlex.join(words + [str(p) for p in self.paths])


@dataclass
class Result:
    """One seed's run, reduced to what outcomes are compared by."""
    seed: int
    statuses: tuple
    stdout: str
    memory: tuple                    # (segment id, zlib of its bytes)
    races: tuple                     # sorted race_key()s
    race_list: list                  # the report's races, as reported
    race_text: list                  # the detector's text for each one
    names: dict                      # pid -> program name
    steps: int                       # guest instructions (None if uncounted)

    def key(self, ignore_output=False):
        digest = hashlib.sha256()
        for seg_id, packed in self.memory:
            digest.update(seg_id.to_bytes(4, "little") + packed)
        return (self.statuses, "" if ignore_output else self.stdout,
                digest.hexdigest()[:16], self.races)


@dataclass
class Outcome:
    """Seeds whose runs ended the same way; first is the smallest."""
    first: Result
    seeds: list


class FinalContents:
    """A kernel observer that keeps each shared segment's last contents:
    when it is freed (shm_destroy after the last detach) and, for those
    still alive, at the end of the run."""

    def __init__(self, k):
        self.shm = k.shm
        self.final = {}

    def on_shm_free(self, seg):
        self.final.update(self.shm.contents(seg))

    def collect(self):
        self.final.update(self.shm.contents())
        return tuple((i, zlib.compress(self.final[i], 1))
                     for i in sorted(self.final))


def detector_options(scenario):
    """The new_kernel keyword arguments that turn on the data-race detector
    of `ia32k run --races` when the scenario asks for it; its findings come
    back in build_report(k)["races"] as a list of {"a": {pid, eip, access,
    va}, "b": {...}, "pa"} (docs/abi.md), read by races_of()."""
    return {"races": True} if scenario.races else {}


def race_key(race, names):
    """What identifies a race across schedules: the two instructions
    (program name, EIP, access kind), in a fixed order. Pids, virtual and
    physical addresses may differ from one schedule to another."""
    side = [(names.get(race[s]["pid"], "?"), race[s]["eip"],
             race[s]["access"]) for s in ("a", "b")]
    return tuple(sorted(side))


def races_of(report):
    """(sorted distinct race keys, the races as listed) of a run report."""
    names = {p["pid"]: p["name"] for p in report["processes"]}
    found = report.get("races", [])
    return tuple(sorted({race_key(r, names) for r in found})), found


def run_seed(scenario, seed, observers=()):
    """Run the scenario once under seed, with observers attached too;
    return its Result."""
    out = io.BytesIO()
    k = new_kernel(scenario.programs, memory=scenario.memory,
                   quantum=scenario.quantum, cpus=scenario.cpus, seed=seed,
                   policy=scenario.policy(seed), paging=scenario.paging,
                   tlb_shootdown=scenario.tlb_shootdown,
                   console=Console(out, io.BytesIO()),
                   **detector_options(scenario))
    final = k.attach(FinalContents(k))
    for o in observers:
        k.attach(o)
    k.boot(scenario.boot)
    k.run()
    report = build_report(k)
    races, race_list = races_of(report)
    watch = k.observer(RaceWatch)
    text = watch.blocks() if watch is not None else []
    return Result(seed, tuple(p["status"] for p in report["processes"]),
                  out.getvalue().decode("latin-1"), final.collect(), races,
                  race_list, text if len(text) == len(race_list) else [],
                  {p["pid"]: p["name"] for p in report["processes"]},
                  k.stats.instructions)


def calibrate_steps(scenario, seed):
    """PCT's K when none is given: the guest instructions of one run of the
    scenario under the random schedule, seed `seed`."""
    one = Scenario(**{**scenario.__dict__, "schedule": "random",
                      "races": False})
    return max(1, run_seed(one, seed).steps)


# -- running many seeds ------------------------------------------------------
_WORKER_SCENARIO = None


def _worker_init(scenario):
    global _WORKER_SCENARIO
    _WORKER_SCENARIO = scenario


def _worker_run(seed):
    return run_seed(_WORKER_SCENARIO, seed)


def _run_batch(scenario, seeds):
    return [run_seed(scenario, s) for s in seeds]


def batches(seeds, workers):
    """seeds cut into runs of consecutive seeds, a few per worker (at most
    BATCH each), so a cluster's task overhead stays small."""
    size = max(1, min(BATCH, len(seeds) // (4 * max(1, workers))))
    return [seeds[i:i + size] for i in range(0, len(seeds), size)]


BATCH = 25


def results(scenario, seeds, jobs=1, executor=None):
    """Yield each seed's Result in seed order, computed by `jobs` worker
    processes (forked after the first seed has run here, so the programs
    are built and the machine calibrated once), or by executor
    (tools/fuzz/cluster.py, holding the scenario as its shared value) in
    batches. Stopping the iteration early stops the workers."""
    if executor is not None:
        parts = batches(seeds, executor.workers())
        for batch in cluster.in_order(executor.run(_run_batch, parts)):
            yield from batch
        return
    if jobs <= 1 or len(seeds) <= 1:
        for seed in seeds:
            yield run_seed(scenario, seed)
        return
    yield run_seed(scenario, seeds[0])      # warms what workers inherit
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(jobs, len(seeds) - 1), _worker_init,
                  (scenario,)) as pool:
        yield from pool.imap(_worker_run, seeds[1:], chunksize=1)


@dataclass
class Search:
    """What a search found: outcomes in the order first seen (outcome 1 is
    the first seed's), the number of runs, and the seed it stopped at."""
    outcomes: list
    runs: int
    stopped_at: object = None


def find_races(scenario, seeds, jobs=1, ignore_output=False,
               stop_on_first=False, executor=None):
    """Run every seed (stopping, with stop_on_first, at the first seed whose
    outcome differs from the first seed's, or with races on at the first
    that reports a race) and group the seeds by outcome."""
    groups, runs, stopped = {}, 0, None
    for r in results(scenario, seeds, jobs, executor):
        runs += 1
        key = r.key(ignore_output)
        if key in groups:
            groups[key].seeds.append(r.seed)
        else:
            groups[key] = Outcome(r, [r.seed])
        if stop_on_first and (r.races if scenario.races else
                              len(groups) > 1):
            stopped = r.seed
            break
    return Search(list(groups.values()), runs, stopped)


# -- saying what differs -----------------------------------------------------
def differing_words(a, b):
    """[(segment id, offset, value in a, value in b)] for every 4-byte word
    of the shared segments whose final value differs (a missing segment
    reads as zeros)."""
    ma = {i: zlib.decompress(d) for i, d in a.memory}
    mb = {i: zlib.decompress(d) for i, d in b.memory}
    found = []
    for seg in sorted(set(ma) | set(mb)):
        x, y = ma.get(seg, b""), mb.get(seg, b"")
        n = max(len(x), len(y))
        x, y = x.ljust(n, b"\0"), y.ljust(n, b"\0")
        if x == y:
            continue
        wx, wy = array("I", x), array("I", y)
        found += [(seg, 4 * i, wx[i], wy[i]) for i in range(len(wx))
                  if wx[i] != wy[i]]
    return found


def differing_lines(a, b):
    """The output lines of b that are not in a ('+') and of a not in b
    ('-'), in order."""
    diff = difflib.ndiff(a.stdout.splitlines(), b.stdout.splitlines())
    return [d[:1] + " " + d[2:] for d in diff if d[:1] in "+-"]


def differing_statuses(a, b):
    """[(pid, program, status in a, status in b)] where they differ."""
    pids = sorted(set(a.names) | set(b.names))
    sa = dict(zip(sorted(a.names), a.statuses))
    sb = dict(zip(sorted(b.names), b.statuses))
    return [(pid, b.names.get(pid, a.names.get(pid)), sa.get(pid),
             sb.get(pid)) for pid in pids if sa.get(pid) != sb.get(pid)]


def format_race(r):
    """One racing pair as one line."""
    a, b = r["a"], r["b"]
    return (f"pid {a['pid']} {a['access']} at eip {a['eip']:#x} (va "
            f"{a['va']:#x}) / pid {b['pid']} {b['access']} at eip "
            f"{b['eip']:#x} (va {b['va']:#x}), pa {r['pa']:#x}")


def describe_outcome(o, ref, scenario):
    """The lines about one outcome: its seeds, how to replay it, and what
    differs from the reference outcome (the first)."""
    r = o.first
    seeds = ", ".join(map(str, o.seeds[:12])) + \
        (", …" if len(o.seeds) > 12 else "")
    lines = [f"{len(o.seeds)} seed(s) [{seeds}]; statuses "
             f"{list(r.statuses)}",
             f"    replay: {scenario.replay(r.seed)}"]
    if o is ref:
        tail = r.stdout.strip().splitlines()[-1:] or ["<no output>"]
        lines.append(f"    last line: {tail[0]!r}")
    else:
        lines += _differences(ref.first, r)
    if scenario.races:
        lines.append(f"    races: {len(r.races)}" +
                     ("" if r.races else " (none)"))
        pairs = [Pair.listed(x) for x in r.race_list]
        second = SecondAccess(lambda: quiet_kernel(scenario, r.seed), pairs)
        for i in _distinct(r):
            text = r.race_text[i] if r.race_text else \
                format_race(r.race_list[i])
            lines += ["      " + t for t in text.splitlines()]
            lines += ["      " + t for t in _gdb(scenario, r, pairs[i],
                                                 second)]
    return lines


def _gdb(scenario, r, pair, second):
    """How to reach this race's second access under gdb (lines)."""
    m = second.moment(pair)
    return [] if m is None else gdb_lines(scenario.replay(r.seed), m,
                                          pair.b.va)


def quiet_kernel(scenario, seed):
    """The scenario's machine under seed, booted, printing nothing."""
    k = new_kernel(scenario.programs, memory=scenario.memory,
                   quantum=scenario.quantum, cpus=scenario.cpus, seed=seed,
                   policy=scenario.policy(seed), paging=scenario.paging,
                   console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(scenario.boot)
    return k


def _differences(a, b):
    """Lines saying how run b differs from run a."""
    out = []
    for pid, name, x, y in differing_statuses(a, b):
        out.append(f"    exit status of pid {pid} ({name}): {x} -> {y}")
    lines = differing_lines(a, b)
    if lines:
        out.append("    output lines:")
        out += ["      " + d for d in lines[:MAX_LINES_SHOWN]]
        if len(lines) > MAX_LINES_SHOWN:
            out.append(f"      … {len(lines) - MAX_LINES_SHOWN} more")
    words = differing_words(a, b)
    if words:
        out.append(f"    shared words whose final value differs "
                   f"({len(words)}):")
        out += [f"      segment {s} +{off:#x}: {x} ({x:#x}) -> {y} ({y:#x})"
                for s, off, x, y in words[:MAX_WORDS_SHOWN]]
    if set(a.races) != set(b.races):
        out.append(f"    races: {len(set(b.races) - set(a.races))} not in "
                   f"outcome 1, {len(set(a.races) - set(b.races))} missing")
    return out or ["    (differs only in output order or whitespace)"]


def _distinct(r):
    """The index of one reported race per distinct key, in report order."""
    seen, out = set(), []
    for i, x in enumerate(r.race_list):
        key = race_key(x, r.names)
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


def format_search(search, scenario, nseeds):
    """The whole summary: a headline, then each outcome."""
    n = len(search.outcomes)
    head = (f"ia32k race: {search.runs} of {nseeds} seeds run "
            f"({scenario.schedule}"
            + (f", depth {scenario.depth}, {scenario.steps} steps"
               if scenario.schedule == "pct" else "")
            + f"), {n} distinct outcome{'s' if n != 1 else ''}")
    if n > 1:
        head += " — the result depends on the schedule"
    if search.stopped_at is not None:
        head += f"; stopped at seed {search.stopped_at}"
    lines = [head]
    ref = search.outcomes[0] if search.outcomes else None
    for i, o in enumerate(search.outcomes[:MAX_OUTCOMES_SHOWN]):
        body = describe_outcome(o, ref, scenario)
        lines.append(f"  outcome {i + 1}: " + body[0])
        lines += body[1:]
    rest = search.outcomes[MAX_OUTCOMES_SHOWN:]
    if rest:
        lines.append(f"  … {len(rest)} more outcomes, smallest seeds "
                     + ", ".join(str(o.first.seed) for o in rest[:20]))
    return "\n".join(lines)


def parse_seeds(text):
    """'0..49' or '3' or '1,5,9' -> list of ints."""
    if ".." in text:
        a, b = text.split("..", 1)
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]
