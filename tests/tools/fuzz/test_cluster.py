"""Campaigns and race sweeps on Dask distributed (tools/fuzz/cluster.py): a
real `dask scheduler` and two `dask worker` processes on this machine run
a guided campaign and an `ia32k race` sweep; both workers do work and the
results are the same as on forked processes (--jobs)."""

import json
import os
import random
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tools.cli.main import main as ia32k
from tools.fuzz import campaign, cluster, command, rounds, sameness, seams
from tools.fuzz.rounds import unit_seed
from tools.race import finder as rf
from tools.toolchain.programs import Programs

from tests.conftest import ROOT

DASK = Path(sys.executable).parent / "dask"
RACE = "userland/demo/race.c"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler():
    """tcp://127.0.0.1:PORT of a scheduler with two one-thread workers,
    all three stopped at the end."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    quiet = dict(cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"],
                              **quiet)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1",
                 "--no-dashboard", "--host", "127.0.0.1"], **quiet))
        from distributed import Client
        with Client(address, timeout=60) as c:
            c.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _digest(run):
    t = run.total
    return (t.cases, t.boots, t.checks, sorted(t.results.items()),
            sorted(t.statuses.items()), len(t.violations),
            run.corpus.entries, sorted(run.corpus.seen))


def test_guided_campaign_on_dask_matches_jobs(scheduler):
    """The default mix: seam boots, differential pairs, kernel lines."""
    ex = cluster.Dask(scheduler)
    try:
        on_dask = rounds.campaign(seed=21, cases=320, cpus="mix", executor=ex,
                                  per_round=4)
        assert len(ex.used) == 2 and min(ex.used.values()) >= 1, ex.used
    finally:
        ex.close()
    local = rounds.campaign(seed=21, cases=320, cpus="mix",
                            executor=cluster.Local(2), per_round=4)
    assert on_dask.total.paired > 0 and on_dask.corpus.lines()
    assert on_dask.total.violations == []
    assert len(on_dask.workers) == 2                # by their Dask address
    assert all(w.startswith("tcp://") for w in on_dask.workers)
    assert _digest(on_dask) == _digest(local)


def test_fuzz_command_runs_on_a_scheduler(scheduler, capsys):
    status = command.main(["--scheduler", scheduler, "--jobs", "2",
                           "--cases", "64", "--json", "--seed", "3"])
    s = json.loads(capsys.readouterr().out)
    assert status == 0 and s["programs"] >= 64 and s["kernel_lines"] > 0


def test_race_sweep_on_dask_matches_jobs(scheduler):
    progs = Programs()
    sc = rf.Scenario(progs, [progs.add(ROOT / RACE)], [RACE])
    seeds = list(range(40))
    ex = cluster.Dask(scheduler, shared=sc)
    try:
        on_dask = rf.find_races(sc, seeds, executor=ex)
        assert len(ex.used) == 2, ex.used
    finally:
        ex.close()
    local = rf.find_races(sc, seeds, jobs=2)
    assert [(o.first.key(), o.seeds) for o in on_dask.outcomes] == \
        [(o.first.key(), o.seeds) for o in local.outcomes]
    assert on_dask.runs == 40


def test_race_command_takes_the_scheduler(scheduler, capsys):
    args = ["race", "--seeds", "0..11", str(ROOT / RACE)]
    ia32k(args + ["--jobs", "2"])
    local = capsys.readouterr().out
    ia32k(args + ["--scheduler", scheduler])
    assert capsys.readouterr().out == local and "12 of 12 seeds" in local


def test_race_on_a_local_dask_cluster_matches_jobs(capsys):
    """--dask with no scheduler starts its own cluster (two workers here)."""
    args = ["race", "--seeds", "0..7", "--jobs", "2", str(ROOT / RACE)]
    ia32k(args)
    local = capsys.readouterr().out
    ia32k(args + ["--dask"])
    assert capsys.readouterr().out == local


def test_fuzz_command_on_a_local_dask_cluster(capsys):
    status = command.main(["--dask", "--jobs", "2", "--cases", "32",
                           "--json", "--seed", "8"])
    s = json.loads(capsys.readouterr().out)
    assert status == 0 and s["programs"] >= 32
    assert all(w.startswith("tcp://") for w in s["workers"])


def _unit():
    """A guided unit of seam boots, differential pairs and plain boots
    drawing from a small corpus, measuring kernel lines on every boot."""
    rng = random.Random(5)
    pool = [campaign.random_program(rng) for _ in range(4)]
    return rounds.Unit(unit_seed(3, 0, 0), 48, None, "mix",
                       {"seam_share": 0.5, "diff_share": 0.5}, True, 1,
                       pool, set())


def _unit_digest(unit):
    """What a unit's Part says, as comparable text (not where or how long
    it ran)."""
    part = rounds.run_unit(None, unit)
    c = part.campaign
    return repr((c.cases, c.boots, c.checks, c.paired, c.chance_hits,
                 sorted(c.results.items()), sorted(c.statuses.items()),
                 [(v["where"], v["what"]) for v in c.violations],
                 [(e.texts, e.mode.text(), e.cpus,
                   sorted(map(repr, e.found))) for e in part.found]))


FRESH = ("import sys\n"
         "from tests.tools.fuzz.test_cluster import _unit, _unit_digest\n"
         "sys.stdout.write(_unit_digest(_unit()))\n")


def test_a_unit_run_twice_in_one_process_matches_a_fresh_process(
        monkeypatch):
    """A fresh process (its own hash seed, nothing cached) gives a unit the
    result it gets in a process that has already run it, in the main
    thread and in another thread (as on a Dask worker)."""
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH], cwd=ROOT, capture_output=True,
        text=True, env={**os.environ, "PYTHONHASHSEED": "12345"},
        timeout=600, check=True).stdout
    modes = []
    draw = seams.draw_mode

    def counted(*args):
        mode, cpus = draw(*args)
        modes.append(mode.seams)
        return mode, cpus
    monkeypatch.setattr(seams, "draw_mode", counted)
    first = _unit_digest(_unit())
    assert any(modes) and not all(modes)
    out = []
    t = threading.Thread(target=lambda: out.append(_unit_digest(_unit())))
    t.start()
    t.join()
    assert first == fresh and out == [fresh]
    assert "'line'" in fresh and eval(fresh)[3] > 0     # lines, pairs


def test_a_worker_with_other_code_runs_no_unit():
    """A unit sent with another process's code digest is refused, naming
    where this worker's code comes from; with this one's, it runs."""
    with pytest.raises(sameness.OtherCode, match=str(ROOT)):
        cluster._dask_call(lambda shared, a: a + 1, None, 1, "0" * 64)
    assert cluster._dask_call(lambda shared, a: a + 1, None, 1,
                              sameness.code_digest()) == 2
