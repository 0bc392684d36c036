"""`python -m tools.fuzz.planted`: how long a campaign takes to find a
kernel bug planted on purpose, blind against guided.

Each planted bug (BUGS) is a small, named, reversible patch: planted()
is a context manager that replaces one kernel function with a faulty
variant and puts the real one back on leaving. The tool enters it only
inside the process running a campaign's units (Planting wraps the unit
function), never anywhere else, and no kernel file changes.

For every bug, seed and mode (blind: no corpus, no coverage; guided: the
default campaign of tools/fuzz/rounds.py) one single-worker campaign runs
with the bug planted until the first violation carrying the bug's
signature, or until its budget (CPU seconds, programs) is spent. The
boots, programs and CPU seconds it took are recorded; the table of
medians over seeds is printed and written into docs/fuzz-figures.md as
its own section (SECTION)."""

import argparse
import contextlib
import functools
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from emu.x86 import PAGE_SIZE
from kernel.ipc.shm import ShmTable
from kernel.mm import coherence
from kernel.mm.vm import AddressSpace
from tools import ROOT
from tools.fuzz import campaign as fz
from tools.fuzz import cluster, command, rounds, seams

SECTION = "## Planted bugs: time to find"


@dataclass(frozen=True)
class Bug:
    """A planted bug: its name, what it breaks, the texts one of which a
    violation it causes contains, and the patch (a function returning a
    context manager)."""
    name: str
    what: str
    signature: tuple
    patch: object
    focus: tuple        # (seams.Mode, CPUs, seam moves) that reach it

    def planted(self):
        """The context manager that plants the bug while it is entered."""
        return self.patch()

    def matches(self, text):
        """True when a violation's text is this bug's."""
        return any(s in text for s in self.signature)


def _cow_without_flush():
    """A copy-on-write break that neither flushes this CPU's TLB nor shoots
    down other CPUs running the space: they keep the old translation."""
    real = AddressSpace.break_cow

    def break_cow(self, va):
        with mock.patch.object(self.vm, "on_tables_changed",
                               lambda aspace, why, old=(): None):
            return real(self, va)
    return mock.patch.object(AddressSpace, "break_cow", break_cow)


def _skipped_coherence_flush():
    """A CPU about to run a process that ran elsewhere drops none of its
    code of private pages stored into there."""
    return mock.patch.object(coherence, "drop_written_code",
                             lambda cpu, aspace: 0)


def _large_page_alignment_off_by_one():
    """shm_attach's alignment check for a large-page segment accepts an
    address one 4 KiB page past a large-page boundary."""
    real = ShmTable._place

    def place(self, aspace, addr, size, align=PAGE_SIZE):
        if align > PAGE_SIZE and addr % align == PAGE_SIZE and \
                aspace.is_free(addr, addr + size):
            return addr
        return real(self, aspace, addr, size, align)
    return mock.patch.object(ShmTable, "_place", place)


BUGS = {b.name: b for b in (
    Bug("cow-no-flush", "a copy-on-write break flushes no TLB",
        ("own store to its code was not seen", "wrote code the CPU did not",
         "after fork was not seen", "reached its parent"),
        _cow_without_flush,
        (seams.Mode(True), 1, ("code_by_self", "code_by_shm_stat"))),
    Bug("stale-code", "a migrated process's written code is not dropped",
        ("code was not seen",), _skipped_coherence_flush,
        (seams.Mode(True), 2, ("code_private_yield", "code_after_fork"))),
    Bug("huge-align", "shm_attach takes a large page one 4 KiB page past "
        "its alignment",
        ("large page read back", "large-page leaves",
         "refcount = PTEs + owners"), _large_page_alignment_off_by_one,
        (seams.Mode(True, "pae"), 1, ("huge_pages",))),
)}
MODES = ("blind", "guided")


def focused(bug):
    """Every boot a seam boot of the bug's focus: its mode, CPUs and moves
    (a context manager, entered where the boots run)."""
    mode, cpus, moves = bug.focus
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(seams, "draw_mode",
                                          lambda rng, share: (mode, cpus)))
    stack.enter_context(mock.patch.object(seams.SeamWriter, "MOVES", moves))
    stack.enter_context(mock.patch.object(seams.SeamWriter, "WEIGHTS",
                                          (1,) * len(moves)))
    return stack


class _Stop(Exception):
    """Raised after the boot that ends a unit early."""

    def __init__(self, campaign):
        self.campaign = campaign


def planted_unit(name, focus, cpu_left, fn, shared, unit):
    """fn (rounds.run_unit) run with bug name planted (and its focus),
    ended after the first boot whose violation is the bug's or once it has
    used cpu_left CPU seconds; the Part of the boots it ran."""
    bug, cpu0, t0 = BUGS[name], time.process_time(), time.monotonic()
    real = fz.run_boot

    def run_boot(rng, c, **kw):
        real(rng, c, **kw)
        if any(bug.matches(v["what"]) for v in c.violations) or \
                time.process_time() - cpu0 >= cpu_left:
            raise _Stop(c)
    with contextlib.ExitStack() as stack:
        stack.enter_context(bug.planted())
        if focus:
            stack.enter_context(focused(bug))
        stack.enter_context(mock.patch.object(fz, "run_boot", run_boot))
        try:
            return fn(shared, unit)
        except _Stop as stop:
            c = stop.campaign
    c.seconds = time.monotonic() - t0
    return rounds.Part(c, [], cluster.whoami(), c.seconds,
                       time.process_time() - cpu0)


class Planting:
    """An executor (tools/fuzz/cluster.py) that runs each unit with a bug
    planted, in the process that runs it, within a CPU budget."""

    def __init__(self, inner, bug, budget, focus=False):
        self.inner, self.bug, self.focus = inner, bug, focus
        self.left = budget              # CPU seconds

    def workers(self):
        return self.inner.workers()

    def run(self, fn, args):
        job = functools.partial(planted_unit, self.bug.name, self.focus,
                                self.left, fn)
        for i, part in self.inner.run(job, args):
            self.left -= part.cpu
            yield i, part

    def close(self):
        self.inner.close()


@dataclass
class Search:
    """One campaign's search for a planted bug: whether the bug's violation
    was found, after how many boots, programs and CPU seconds (or what the
    budget allowed), and the violation's text."""
    bug: str
    mode: str
    seed: int
    found: bool = False
    boots: int = 0
    programs: int = 0
    cpu: float = 0.0
    what: str = ""


class _Watch:
    """The campaign's progress: stops it once the bug is found or the
    budget spent (rounds.campaign returns no Run when stopped)."""

    def __init__(self, bug, planting):
        self.bug, self.planting, self.run = bug, planting, None

    def update(self, run):
        self.run = run
        if self.hit(run) or self.planting.left <= 0:
            raise _Stop(run)

    def hit(self, run):
        return next((v["what"] for v in run.total.violations
                     if self.bug.matches(v["what"])), None)


def search(name, mode, seed, budget=60.0, cases=4000, focus=False,
           **boot):
    """Run one single-worker campaign in this process (blind or guided,
    `python -m tools.fuzz`'s defaults unless boot overrides them) with
    bug name planted, until its violation, budget CPU seconds or cases
    programs; the Search."""
    bug = BUGS[name]
    planting = Planting(cluster.Inline(), bug, budget, focus)
    watch = _Watch(bug, planting)
    args = {**defaults(), **boot}
    args.update(guided=mode == "guided",
                measure=0 if mode == "blind" else args["measure"])
    with contextlib.suppress(_Stop):
        rounds.campaign(seed, cases, None, executor=planting, per_round=1,
                        progress=watch, **args)
    run, what = watch.run, watch.hit(watch.run)
    return Search(name, mode, seed, what is not None, run.total.boots,
                  run.total.cases, round(run.cpu, 2), what or "")


def defaults():
    """The campaign options `python -m tools.fuzz` runs with by default
    (measure: of a guided campaign)."""
    return command.campaign_options(command.parser().parse_args([]))


def _search_job(_shared, task):
    return search(**task)


def measure(bugs, seeds, budget, cases, jobs=0, focus=False, seed=1):
    """Yield a Search for every seed (seed, seed + 1, ...), bug and mode,
    seed by seed: in this process one after another (jobs 0), or jobs
    campaigns at a time, each in its own worker process."""
    tasks = [{"name": b, "mode": m, "seed": seed + s, "budget": budget,
              "cases": cases, "focus": focus}
             for s in range(seeds) for b in bugs for m in MODES]
    ex = cluster.executor(jobs) if jobs else cluster.Inline()
    try:
        yield from cluster.in_order(ex.run(_search_job, tasks))
    finally:
        ex.close()


def _median(xs):
    """The median of xs, where inf (a seed that did not find the bug)
    counts as longer than any find: "not found" when the median is one."""
    m = statistics.median(sorted(xs))
    return "not found" if math.isinf(m) else f"{m:g}"


def table(searches):
    """Markdown rows: per bug and mode, the seeds that found the bug and
    the medians over every seed of boots, programs and CPU seconds to
    find it (a seed that did not find it counting as never)."""
    rows = ["| bug | mode | found | boots | programs | CPU seconds |",
            "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(s.bug for s in searches):
        for mode in MODES:
            runs = [s for s in searches if (s.bug, s.mode) == (name, mode)]
            if runs:
                rows.append(f"| {name} | {mode} | "
                            f"{sum(s.found for s in runs)} of {len(runs)} | "
                            + " | ".join(_median([
                                round(getattr(s, f), 1) if s.found
                                else math.inf for s in runs])
                                for f in ("boots", "programs", "cpu"))
                            + " |")
    return rows


def section(searches, argv):
    """The section of docs/fuzz-figures.md this tool writes."""
    bugs = dict.fromkeys(s.bug for s in searches)
    return "\n".join([
        SECTION, "",
        f"Written by `python -m tools.fuzz.planted {' '.join(argv)}`. Each "
        "bug is planted only in the process running the campaign (the kernel "
        "files are unchanged); every campaign is single-worker, runs until "
        "the first violation carrying the bug's signature or its budget, "
        "and counts CPU seconds (the machine is shared). Medians are over "
        "every seed, a seed that did not find the bug within its budget "
        "counting as longer than any that did.", "",
        *[f"- {b}: {BUGS[b].what}" for b in bugs], "",
        *table(searches), ""])


def write_section(path, text):
    """Replace SECTION in the markdown file at path with text (from its
    heading to the next heading of its level), or append text."""
    old = path.read_text() if path.exists() else ""
    head, sep, rest = old.partition(SECTION)
    if not sep:
        path.write_text(old.rstrip("\n") + "\n\n" + text if old else text)
        return
    after = rest.find("\n## ")
    tail = rest[after + 1:] if after >= 0 else ""
    path.write_text(head + text + ("\n" + tail if tail else ""))


def parser():
    ap = argparse.ArgumentParser(
        prog="python -m tools.fuzz.planted", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bugs", default=",".join(BUGS), metavar="NAMES",
                    help="comma-separated bugs to plant, one at a time "
                    f"(default: all: {', '.join(BUGS)})")
    ap.add_argument("--seeds", type=int, default=5, metavar="N",
                    help="campaigns per bug and mode, seeds --seed, "
                    "--seed + 1, ... (default 5)")
    ap.add_argument("--seed", type=int, default=1,
                    help="the first campaign seed (default 1)")
    ap.add_argument("--budget", type=float, default=60, metavar="CPU_S",
                    help="CPU seconds a campaign may spend before the bug "
                    "counts as not found (default 60)")
    ap.add_argument("--cases", type=int, default=4000, metavar="N",
                    help="programs a campaign may run before the bug counts "
                    "as not found (default 4000; unlike CPU seconds, the same "
                    "on every machine)")
    ap.add_argument("--jobs", type=int, default=0,
                    help="campaigns run at once, each in its own worker "
                    "process and single-worker itself (default 0: one "
                    "after another in this process)")
    ap.add_argument("--focus", action="store_true",
                    help="make every boot a seam boot of the mode, CPU "
                    "count and moves that reach the bug (shows a bug is "
                    "findable; not the default campaign's time to find)")
    ap.add_argument("--out", metavar="FILE",
                    default=str(ROOT / "docs" / "fuzz-figures.md"),
                    help="markdown file whose planted-bugs section is "
                    "written (default: docs/fuzz-figures.md; - for none)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    bugs = args.bugs.split(",")
    unknown = [b for b in bugs if b not in BUGS]
    if unknown:
        parser().error(f"unknown bugs: {', '.join(unknown)}")
    argv = argv if argv is not None else sys.argv[1:]
    done = []
    for s in measure(bugs, args.seeds, args.budget, args.cases, args.jobs,
                     args.focus, args.seed):
        done.append(s)
        print(f"{s.bug} {s.mode} seed {s.seed}: " + (
            f"found after {s.boots} boots, {s.programs} programs, "
            f"{s.cpu:.1f} CPU s: {s.what[:100]}" if s.found else
            f"not found in {s.boots} boots, {s.cpu:.1f} CPU s"), flush=True)
        if args.out != "-":         # each search in as it ends
            write_section(Path(args.out), section(done, argv))
    print(section(done, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
