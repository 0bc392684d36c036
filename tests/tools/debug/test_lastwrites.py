"""`ia32k run --last-writes`: the last writes to one word of physical
memory, by any process through any address, each with its instruction
count, pid, instruction, old and new value and source line; found by a
virtual address of one process (--in-pid) or by the physical address,
limited to the first T instructions (--before)."""

import json
import re
import subprocess
import sys

from tests.conftest import ROOT

PROG = ROOT / "userland" / "tests" / "gdb_lastwriter.c"
LINE = re.compile(r"  #(\d+) pid (\d+) \(gdb_lastwriter\) eip (0x[0-9a-f]+) "
                  r"(.+): (0x[0-9a-f]+) -> (0x[0-9a-f]+)  "
                  r"\[gdb_lastwriter\.c:(\d+)\]")


def run(*args):
    r = subprocess.run([sys.executable, "-m", "tools.cli", "run", str(PROG),
                        *map(str, args)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def test_both_writers_in_order_through_either_address(tmp_path):
    report = tmp_path / "r.json"
    code, out, err = run("--seed", "3", "--last-writes", "0x60000004",
                         "--in-pid", "1", "--report", report)
    assert code == 0 and out == "word 2222\n"
    rows = LINE.findall(err)
    assert [(r[1], r[4], r[5], r[6]) for r in rows] == [
        ("1", "0x00000000", "0x00001111", "19"),     # through 0x40000004
        ("2", "0x00001111", "0x00002222", "22")]     # through 0x60000004
    assert int(rows[0][0]) < int(rows[1][0])
    assert "mov dword ptr" in rows[1][3]
    pa = int(re.search(r"physical word (0x[0-9a-f]+)", err).group(1), 16)
    # the same word by its physical address, and by the parent's address
    assert LINE.findall(run("--seed", "3", "--last-writes", hex(pa))[2]) \
        == rows
    assert LINE.findall(run("--seed", "3", "--last-writes", "0x40000004",
                            "--in-pid", "1")[2]) == rows
    saved = json.loads(report.read_text())["last_writes"]
    assert [(w["pid"], w["new"], w["count"]) for w in saved] == \
        [(int(r[1]), int(r[5], 16), int(r[0])) for r in rows]


def test_before_and_how_many():
    err = run("--seed", "3", "--last-writes", "0x60000004", "--in-pid",
              "1")[2]
    first, second = (int(r[0]) for r in LINE.findall(err))
    upto = LINE.findall(run("--seed", "3", "--last-writes", "0x60000004",
                            "--in-pid", "1", "--before", first)[2])
    assert [int(r[0]) for r in upto] == [first]
    none = run("--seed", "3", "--last-writes", "0x60000004", "--in-pid",
               "1", "--before", first - 1)[2]
    assert "last 0 write(s)" in none and not LINE.findall(none)
    last = LINE.findall(run("--seed", "3", "--last-writes", "0x60000004:1",
                            "--in-pid", "1")[2])
    assert [int(r[0]) for r in last] == [second]


def test_usage_errors():
    code, _, err = run("--last-writes", "0x60000004")
    assert code == 2 and "needs --seed S or --quantum N" in err
    code, _, err = run("--seed", "1", "--in-pid", "1")
    assert code == 2 and "need --last-writes" in err
    code, _, err = run("--seed", "1", "--last-writes", "nowhere")
    assert code == 2 and "expected ADDR[:N]" in err
    code, _, err = run("--seed", "1", "--last-writes", "0x70000000",
                       "--in-pid", "1")
    assert code == 2 and "process 1 never mapped 0x70000000" in err
