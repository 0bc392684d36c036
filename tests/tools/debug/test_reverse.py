"""Going back in time under the real gdb (`ia32k run --gdb` on a
deterministic run): reverse-stepi undoes stepi exactly, reverse-continue
under a watchpoint names the last writer of a shared word (any process,
any address), the run's start is reported as the end of the history,
forward execution after going back repeats what happened, and a run that
is not deterministic refuses with a clear message."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.tools.debug import test_gdb
from tests.tools.debug.test_gdb import TESTS, gdb

machines = test_gdb.machines          # the fixture: one `ia32k run --gdb 0`

LASTWRITER = TESTS / "gdb_lastwriter.c"
PARENT_WRITE, CHILD_WRITE, CHILD_EXIT, PRINT = 19, 22, 23, 27
# going back replays from boot, or from the nearest checkpoint (a forked
# copy of the machine process taken every 15 instructions)
JOURNEYS = pytest.mark.parametrize("ckpt", [[], ["--checkpoint-every",
                                                 "15"]],
                                   ids=["from-boot", "checkpoints"])


def state(out, mark):
    """The registers and memory dumped after the echo `mark`."""
    part = out.split(mark, 1)[1]
    end = part.find("====")
    return part if end < 0 else part[:end]


def dump(mark):
    return [f"echo {mark}\\n", "info registers", "x/8wx $esp",
            "x/2wx 0x40000000", "echo ====\\n"]


@JOURNEYS
def test_reverse_stepi_undoes_stepi(machines, ckpt):
    # a short quantum on 2 CPUs: the 40 steps cross slices and the fork
    m = machines(LASTWRITER, "--quantum", "20", "--cpus", "2", *ckpt)
    out = gdb(m, f"break {PARENT_WRITE}", "continue", *dump("BEFORE"),
              "stepi 40", *dump("AFTER"), "reverse-stepi 40", *dump("BACK"),
              "stepi 40", *dump("AGAIN"), "monitor checkpoints", "kill")
    before, after = state(out, "BEFORE"), state(out, "AFTER")
    kept = re.search(r"(\d+) checkpoints \(one every (\d+) instructions\)"
                     r", at: ([\d, ]+); host memory of their own: ", out)
    if ckpt:   # one every 15 instructions, the number kept bounded
        assert kept and 1 <= int(kept.group(1)) <= 16
        assert [int(c) for c in kept.group(3).split(", ")] == sorted(
            int(c) for c in kept.group(3).split(", "))
    else:
        assert "no checkpoints: going back replays from boot" in out
    assert "eip" in before and before != after
    assert state(out, "BACK") == before
    assert state(out, "AGAIN") == after          # forward repeats itself


@JOURNEYS
def test_reverse_continue_names_the_last_writer(machines, ckpt):
    m = machines(LASTWRITER, "--seed", "3", *ckpt)
    out = gdb(m, f"break {PRINT}", "continue", "watch *(int*)0x60000004",
              "reverse-continue", "monitor count", "reverse-continue",
              "reverse-continue", "continue", "delete", "continue")
    hits = re.findall(r"Thread (\d) hit Hardware watchpoint 2: "
                      r"\*\(int\*\)0x60000004\n\nOld value = (\d+)\n"
                      r"New value = (\d+)\n[^\n]*\n(\d+)\t", out)
    # back: the child (through 0x60000004), then the parent (0x40000004);
    # then forward again: the parent's write once more
    assert hits == [("2", "8738", "4369", str(CHILD_WRITE)),
                    ("1", "4369", "0", str(PARENT_WRITE)),
                    ("1", "0", "4369", str(PARENT_WRITE + 1))]
    assert "No more reverse-execution history." in out
    code, stdout, _ = m.finish()
    assert code == 0 and stdout == "word 2222\n"   # printed once
    # the same moment as --last-writes names it: just before the write
    count = int(re.search(r"instructions run: (\d+)", out).group(1))
    r = subprocess.run([sys.executable, "-m", "tools.cli", "run",
                        str(LASTWRITER), "--seed", "3", "--last-writes",
                        "0x60000004:1", "--in-pid", "1"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert f"#{count + 1} pid 2 " in r.stderr


def table(text):
    """The rows of an `info threads` table at the start of text."""
    rows = []
    for line in text.split("\n")[1:]:
        if not re.match(r"[* ] +\d+ ", line):
            break
        rows.append(line)
    return "\n".join(rows)


@JOURNEYS
def test_back_across_exit_and_fork(machines, ckpt):
    m = machines(LASTWRITER, "--seed", "7", "--cpus", "2", *ckpt)
    out = gdb(m, f"break {PRINT}", "continue", "info threads",
              f"break {CHILD_EXIT}", "reverse-continue", "info threads",
              "delete", f"break {PARENT_WRITE}", "reverse-continue",
              "info threads", "kill")
    first, child, parent = [table(t) for t in
                            out.split("Id   Target Id")[1:4]]
    assert "Thread 2" not in first                 # the child has exited
    assert "* 2 " in child and "Thread 1" in child  # alive again, stopped
    assert f"gdb_lastwriter.c:{CHILD_EXIT}" in child
    assert "Thread 2" not in parent                # before the fork
    assert f"gdb_lastwriter.c:{PARENT_WRITE}" in parent


@JOURNEYS
def test_back_across_a_fault(machines, ckpt):
    m = machines(TESTS / "gdb_fault.c", "--seed", "1", *ckpt)
    out = gdb(m, "continue", "info registers eip", "reverse-stepi",
              "info registers eip", "continue", "info registers eip", "kill")
    faults = re.findall(r"SIGSEGV", out)
    eips = re.findall(r"eip +(0x[0-9a-f]+)", out)
    assert len(faults) == 2                         # the same fault twice
    assert eips[0] == eips[2] and eips[1] != eips[0]
    code, stdout, err = m.finish()
    assert code == 1 and stdout == "about to fault\n"   # killed from gdb
    assert "run ended: killed from the debugger" in err


def test_the_start_is_the_end_of_history(machines):
    m = machines(LASTWRITER, "--seed", "3")
    out = gdb(m, "info registers eip", "reverse-stepi", "info registers eip",
              "reverse-continue", "info registers eip", "monitor count",
              "kill")
    assert out.count("No more reverse-execution history.") == 2
    assert "instructions run: 0\n" in out
    eips = re.findall(r"eip +(0x[0-9a-f]+)", out)
    assert len(eips) == 3 and len(set(eips)) == 1


def test_refused_when_not_deterministic(machines):
    m = machines(LASTWRITER)
    out = gdb(m, f"break {CHILD_WRITE}", "continue", "reverse-continue",
              "reverse-stepi", "delete", "continue")
    assert out.count("cannot go back in time: this run is not "
                     "deterministic; run it with --seed S or --quantum N") == 2
    code, stdout, _ = m.finish()
    assert code == 0 and stdout == "word 2222\n"


def test_a_race_report_replays_to_its_second_access(machines):
    r = subprocess.run([sys.executable, "-m", "tools.cli", "run",
                        str(TESTS / "race_handoff.c"), "--seed", "1",
                        "--cpus", "2", "--races"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    block = r.stderr.split("ia32k: data race")[1]
    eips = re.findall(r"eip (0x[0-9a-f]+) ", block)
    replay = re.search(r"replay: ia32k run (\S+) (.*) --gdb 0 --stop-at "
                       r"(\d+):(\d+)", block)
    watch = re.search(r"`(awatch [^`]+)`", block).group(1)
    assert replay and len(eips) == 2
    m = machines(ROOT / replay.group(1), *replay.group(2).split(),
                 "--stop-at", f"{replay.group(3)}:{replay.group(4)}")
    out = gdb(m, "info registers eip", "monitor count", watch,
              "reverse-continue", "monitor count", "kill")
    assert re.search(rf"eip +{int(eips[1], 16):#x} ", out)   # 2nd access
    counts = [int(c) for c in re.findall(r"instructions run: (\d+)", out)]
    assert counts[0] == int(replay.group(3)) and counts[1] < counts[0]
    assert "hit Hardware access (read/write) watchpoint 1" in out


@pytest.mark.parametrize("option", [["--stop-at", "10"],
                                    ["--checkpoint-every", "1000"]])
def test_needs_gdb_and_a_deterministic_run(option):
    for extra in (["--seed", "1"], ["--gdb", "0"]):
        r = subprocess.run([sys.executable, "-m", "tools.cli", "run",
                            str(LASTWRITER), *option, *extra],
                           cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 2
        assert f"{option[0]} needs --gdb and" in r.stderr


def test_reverse_next_finish_and_step(machines):
    m = machines(TESTS / "gdb_shm.c", "--seed", "3")
    out = gdb(m, "break attached", "continue", "next", "echo NEXT\\n",
              "reverse-next", "echo FINISH\\n", "reverse-finish",
              "echo STEP\\n", "reverse-next", "reverse-step", "kill")
    nxt, fin, step = (out.split(mark)[1] for mark in ("NEXT\n", "FINISH\n",
                                                       "STEP\n"))
    assert "gdb_shm.c:17" in nxt.split("FINISH")[0]    # back in attached()
    assert re.search(r"in child \(\) at .*gdb_shm\.c:24", fin)  # its call
    assert "\n23\t" in step                            # the line before


def test_race_finder_names_the_same_replays():
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tools.cli", *args],
                              cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
    prog = str(TESTS / "race_handoff.c")
    found = cli("race", prog, "--races", "--seeds", "0..0", "--jobs", "1")
    run = cli("run", prog, "--cpus", "2", "--seed", "0", "--races")
    moments = re.findall(r"--gdb 0 --stop-at (\d+:\d+)", found.stdout)
    assert moments and moments == re.findall(r"--gdb 0 --stop-at (\d+:\d+)",
                                             run.stderr)
