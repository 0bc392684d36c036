"""`ia32k race` as a race finder (tools/race/finder.py): PCT finds a rare depth-2
race in fewer runs than random slicing; --jobs 2 groups exactly as --jobs
1; --stop-on-first stops at the first differing seed; the summary names
what differs; the replay line reproduces its outcome; --races groups by the
races the detector reports."""

import json
import shlex

import pytest

from kernel.kernel import Kernel
from tools.race import finder as rf
from tools.toolchain.programs import Programs

from tests.conftest import ROOT
RARE = "userland/demo/rare_race.c"
RACE = "userland/demo/race.c"
N = 200                       # seeds per schedule in the comparison


def scenario(path, **kw):
    progs = Programs()
    boot = [progs.add(ROOT / path)]
    return rf.Scenario(progs, boot, [path], **kw)


def rare(schedule):
    sc = scenario(RARE, cpus=1, quantum=200, schedule=schedule)
    if schedule == "pct":
        sc.steps = rf.calibrate_steps(sc, 0)
    return sc


def hits(search):
    """Seeds whose run saw the stale read (the parent exits 1)."""
    return sorted(s for o in search.outcomes if o.first.statuses[0] == 1
                  for s in o.seeds)


@pytest.fixture(scope="module")
def rare_searches():
    seeds = list(range(N))
    return {sch: rf.find_races(rare(sch), seeds, jobs=2, ignore_output=True)
            for sch in ("random", "pct")}


def test_pct_finds_the_rare_race_in_fewer_runs_than_random(rare_searches):
    """Measured over N seeds each: runs per find = N / hits."""
    r, p = (hits(rare_searches[s]) for s in ("random", "pct"))
    assert len(r) <= 0.03 * N, r              # rare under random slicing
    assert len(p) >= 3 * max(len(r), 1), (r, p)
    assert p[0] < (r[0] if r else N)          # and found first


def test_summary_says_what_differs(rare_searches):
    sc = rare("pct")
    text = rf.format_search(rare_searches["pct"], sc, N)
    assert "2 distinct outcomes" in text
    assert "exit status of pid 1 (rare_race): 0 -> 1" in text
    assert "- ok" in text and "+ stale read" in text
    assert "shared words whose final value differs (1):" in text
    assert "segment 1 +0x8: 42 (0x2a) -> 0 (0x0)" in text


def test_jobs_2_groups_exactly_as_jobs_1():
    sc = scenario(RACE)
    seeds = list(range(8))
    one = rf.find_races(sc, seeds, jobs=1)
    two = rf.find_races(sc, seeds, jobs=2)
    assert len(one.outcomes) > 2
    assert rf.format_search(one, sc, 8) == rf.format_search(two, sc, 8)
    assert [o.seeds for o in one.outcomes] == [o.seeds for o in two.outcomes]


@pytest.mark.parametrize("jobs", [1, 2])
def test_stop_on_first_stops_at_the_first_seed_that_differs(
        rare_searches, jobs):
    first_hit = hits(rare_searches["pct"])[0]
    seeds = list(range(N))
    s = rf.find_races(rare("pct"), seeds, jobs=jobs, ignore_output=True,
                      stop_on_first=True)
    assert s.stopped_at == first_hit
    assert s.runs == first_hit + 1
    assert [o.seeds for o in s.outcomes][1] == [first_hit]


@pytest.mark.parametrize("schedule", ["random", "pct"])
def test_the_replay_line_reproduces_the_outcome(rare_searches, ia32k,
                                                tmp_path, schedule):
    sc = rare(schedule)
    o = rare_searches[schedule].outcomes[-1]      # the stale read
    assert o.first.statuses[0] == 1
    words = shlex.split(sc.replay(o.first.seed))
    assert words[:2] == ["ia32k", "run"]
    report = tmp_path / "r.json"
    cp = ia32k(*words[1:], "--report", str(report))
    assert cp.returncode == 1, cp.stderr
    assert cp.stdout == o.first.stdout == "stale read\n"
    got = [p["status"] for p in json.loads(report.read_text())["processes"]]
    assert tuple(got) == o.first.statuses


class FakeDetector:
    """Stands in for the detector (an observer whose report() adds `races`) so
    that seeds differ by their races alone: it
    reports one race (twice) in about half the runs, decided by a coin
    from the schedule's own PRNG (so by the seed)."""

    def __init__(self, k):
        self.k = k

    def report(self, report):
        odd = self.k.sched.policy.rng.random() < 0.5
        report["coin"] = odd
        race = {"a": {"pid": 2, "eip": 0x401000, "access": "write",
                      "va": 0x40000000},
                "b": {"pid": 3, "eip": 0x401010, "access": "read",
                      "va": 0x60000000}, "pa": 0x1a000}
        report["races"] = [race, dict(race)] if odd else []


def fake_new_kernel(*args, races=False, **kw):
    """A kernel whose races=True attaches the stand-in detector."""
    k = Kernel(*args, **kw)
    if races:
        k.attach(FakeDetector(k))
    return k


def test_races_group_seeds_by_the_races_found(monkeypatch):
    monkeypatch.setattr(rf, "new_kernel", fake_new_kernel)
    sc = rare("random")
    sc.races = True
    seeds = list(range(12))
    plain = rf.find_races(rare("random"), seeds, ignore_output=True)
    s = rf.find_races(sc, seeds, jobs=2, ignore_output=True)
    racy = sorted(x for o in s.outcomes if o.first.races for x in o.seeds)
    odd = sorted(r.seed for r in rf.results(sc, seeds) if r.race_list)
    assert racy == odd and 0 < len(odd) < 12
    assert len(s.outcomes) > len(plain.outcomes)
    text = rf.format_search(s, sc, 12)
    assert "races: 1\n" in text
    assert "pid 2 write at eip 0x401000 (va 0x40000000) / pid 3 read at " \
           "eip 0x401010 (va 0x60000000), pa 0x1a000" in text
    assert "--races" in sc.replay(0)
    first = rf.find_races(sc, seeds, stop_on_first=True, ignore_output=True)
    assert first.stopped_at == odd[0]


def test_race_key_ignores_pids_and_addresses():
    names = {2: "w", 3: "r", 5: "w", 6: "r"}
    a = {"a": {"pid": 2, "eip": 16, "access": "write", "va": 1},
         "b": {"pid": 3, "eip": 32, "access": "read", "va": 2}, "pa": 3}
    b = {"a": {"pid": 6, "eip": 32, "access": "read", "va": 9},
         "b": {"pid": 5, "eip": 16, "access": "write", "va": 8}, "pa": 7}
    assert rf.race_key(a, names) == rf.race_key(b, names)
    c = dict(b, a={**b["a"], "access": "write"})
    assert rf.race_key(a, names) != rf.race_key(c, names)


def test_cli_race_options(ia32k):
    cp = ia32k("race", "--jobs", "0", RARE)
    assert cp.returncode == 2 and "--jobs" in cp.stderr
    cp = ia32k("run", "--schedule", "pct", RARE)
    assert cp.returncode == 2 and "--seed" in cp.stderr
    cp = ia32k("run", "--seed", "1", "--depth", "3", RARE)
    assert cp.returncode == 2 and "--schedule pct" in cp.stderr
    cp = ia32k("race", "--cpus", "1", "--quantum", "200", "--seeds", "0..40",
               "--schedule", "pct", "--stop-on-first", "--jobs", "2", RARE)
    assert cp.returncode == 1, cp.stderr
    assert "stopped at seed" in cp.stdout and "+ stale read" in cp.stdout


def test_a_two_cpu_pct_replay_reproduces_race_c(ia32k):
    """PCT on two CPUs (interleaving drawn from the seed too) replays."""
    sc = scenario(RACE, schedule="pct")
    sc.steps = rf.calibrate_steps(sc, 0)
    s = rf.find_races(sc, [0, 1, 2])
    assert len(s.outcomes) > 1
    r = s.outcomes[-1].first
    cp = ia32k(*shlex.split(sc.replay(r.seed))[1:])
    assert cp.stdout == r.stdout and "updates lost" in cp.stdout


def test_races_with_the_real_detector():
    """--races runs the detector of `ia32k run --races` under each schedule:
    rare_race's flag and data words race in every run (plain loads and
    stores), as the same two instruction pairs whatever the schedule."""
    sc = rare("pct")
    sc.races = True
    s = rf.find_races(sc, list(range(30)), jobs=2, ignore_output=True)
    keys = {o.first.races for o in s.outcomes}
    assert len(keys) == 1
    (races,) = keys
    assert len(races) == 2
    assert all({a[2], b[2]} == {"read", "write"} for a, b in races)
    assert hits(s)                              # the stale read still shows
    first = rf.find_races(sc, list(range(30)), stop_on_first=True)
    assert first.stopped_at == 0 and first.runs == 1
    text = rf.format_search(first, sc, 30)   # the detector's own text
    assert "data race on physical" in text and "[rare_race.c:" in text
