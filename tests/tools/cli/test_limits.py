"""Runs that end early: Ctrl-C, --timeout and --max-instructions stop the
machine, say where each process was, and exit with their own status."""

import json
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SPIN = "loop: jmp loop\n"
READY_SPIN = """
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [msg]
    mov edx, 6
    int 0x80
loop: jmp loop
msg: .ascii "ready\\n"
"""


def where_lines(stderr):
    return [ln for ln in stderr.splitlines() if ln.startswith("ia32k:   pid")]


@pytest.mark.parametrize("copies", [1, 2])
def test_sigint_stops_spinning_programs(tmp_path, copies):
    prog = tmp_path / "spinner.s"
    prog.write_text(READY_SPIN)
    rep = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "tools.cli", "run", "--report",
         str(rep), *[str(prog)] * copies], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(copies):
            assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "run stopped (interrupt)" in err
    lines = where_lines(err)
    assert len(lines) == copies
    for pid, line in enumerate(lines, 1):
        assert f"pid {pid} (spinner)" in line and ": jmp 0x" in line
    r = json.loads(rep.read_text())
    assert r["ended_by"] == "interrupt"
    assert [w["pid"] for w in r["stopped_at"]] == list(range(1, copies + 1))
    assert all(p["status"] is None for p in r["processes"])


def test_timeout_stops_every_process(ia32k, tmp_path):
    prog = tmp_path / "spin.s"
    prog.write_text(SPIN)
    cp = ia32k("run", "--timeout", "0.5", str(prog), str(prog))
    assert cp.returncode == 124, cp.stderr
    lines = where_lines(cp.stderr)
    assert [ln.split()[2] for ln in lines] == ["1", "2"]
    assert all("at eip 0x00400000: jmp 0x400000" in ln for ln in lines)


def test_max_instructions_stops_exactly(ia32k, tmp_path):
    prog = tmp_path / "spin.s"
    prog.write_text(SPIN)
    rep = tmp_path / "r.json"
    cp = ia32k("run", "--max-instructions", "54321", "--report", str(rep),
               str(prog), str(prog))
    assert cp.returncode == 125, cp.stderr
    r = json.loads(rep.read_text())
    assert r["ended_by"] == "max-instructions"
    assert r["stats"]["instructions"] == 54321
    assert len(r["stopped_at"]) == 2


def test_a_run_that_ends_says_so(ia32k, tmp_path):
    prog = tmp_path / "ok.s"
    prog.write_text("mov ebx, 0\nmov eax, SYS_EXIT\nint 0x80\n")
    rep = tmp_path / "r.json"
    cp = ia32k("run", "--timeout", "60", "--max-instructions", "1000000",
               "--report", str(rep), str(prog))
    assert cp.returncode == 0, cp.stderr
    r = json.loads(rep.read_text())
    assert r["ended_by"] == "exit" and "stopped_at" not in r


def test_c_program_stopped_names_its_line(ia32k, tmp_path):
    prog = tmp_path / "cspin.c"
    prog.write_text("int main(int a)\n{\n    volatile int x = 0;\n"
                    "    for (;;)\n        x++;\n}\n")
    cp = ia32k("run", "--max-instructions", "5000", str(prog))
    assert cp.returncode == 125, cp.stderr
    [line] = where_lines(cp.stderr)
    assert "[cspin.c:" in line
