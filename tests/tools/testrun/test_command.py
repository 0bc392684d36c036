"""`ia32k test`: one PASS/FAIL line per program and mode, a readable diff
for each failure, modes, `with` and `options`, --junit-xml, --jobs."""

import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import ROOT
from tools.cli.main import main

HELLO = """{header}
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [msg]
    mov edx, 6
    int 0x80
    mov ebx, {status}
    mov eax, SYS_EXIT
    int 0x80
msg: .ascii "hi\\nyo\\n"
"""
SPAWN_B = """{header}
    mov eax, SYS_SPAWN
    lea ebx, [name]
    mov ecx, 1
    mov edx, 0
    int 0x80
    mov ebx, eax
    mov ecx, 0
    mov eax, SYS_WAIT
    int 0x80
    mov ebx, 0
    mov eax, SYS_EXIT
    int 0x80
name: .ascii "b"
"""
# a `ret` written on the stack and called: runs under --paging 32, and
# under pae is an instruction fetch from a no-execute page
STACK_EXEC = """{header}
    lea eax, [esp-16]
    mov byte ptr [eax], 0xc3
    call eax
    mov ebx, 0
    mov eax, SYS_EXIT
    int 0x80
"""


def program(tmp_path, name, text, header="", status=0):
    path = tmp_path / name
    path.write_text(text.format(header=header, status=status))
    return path


def ia32k_test(capsys, *args):
    """(exit status, stdout) of `ia32k test args`."""
    status = main(["test", *map(str, args)])
    return status, capsys.readouterr().out


def test_pass_and_fail_with_diff(tmp_path, capsys):
    program(tmp_path, "good.s", HELLO, "# expect: stdout hi\\nyo\n"
            "# expect: exit 3", status=3)
    program(tmp_path, "bad.s", HELLO, "# expect: stdout hi\n"
            "# expect: stdout yes\n# expect: exit 0", status=3)
    program(tmp_path, "plain.s", HELLO)          # no header: not collected
    (tmp_path / ".hidden").mkdir()              # hidden: not searched
    program(tmp_path / ".hidden", "h.s", HELLO, "# expect: exit 99")
    status, out = ia32k_test(capsys, tmp_path)
    assert status == 1
    assert f"PASS {tmp_path / 'good.s'} [32]" in out
    assert f"FAIL {tmp_path / 'bad.s'} [32]" in out
    assert "plain.s" not in out and "h.s" not in out
    assert "pid 1: expected 0, got 3" in out
    assert "-yes\n" in out.replace("  ", "") and "+yo" in out
    assert "1 passed, 1 failed" in out
    assert ia32k_test(capsys, tmp_path / "good.s")[0] == 0


def test_modes_reach_the_run(tmp_path, capsys):
    program(tmp_path, "nx.s", STACK_EXEC, "# expect: fault 1 14 0x15\n"
            "# expect: modes pae pae+cpus=2")
    program(tmp_path, "x.s", STACK_EXEC, "# expect: exit 0")
    status, out = ia32k_test(capsys, "--modes", "32,pae", tmp_path)
    assert f"PASS {tmp_path / 'nx.s'} [pae]" in out
    assert f"PASS {tmp_path / 'nx.s'} [pae+cpus=2]" in out
    assert f"PASS {tmp_path / 'x.s'} [32]" in out
    assert f"FAIL {tmp_path / 'x.s'} [pae]" in out
    assert "pid 1: expected 0, got 270 (fault vector 14" in out
    assert "stderr:\n      ia32k: pid 1 (x) killed: page fault" in out
    assert len(re.findall(r"^(PASS|FAIL) ", out, re.M)) == 4
    assert status == 1


def test_with_and_options(tmp_path, capsys):
    program(tmp_path, "b.s", HELLO, status=7)
    program(tmp_path, "a.s", HELLO, "# expect: with b\n# expect: exit 0 7\n"
            "# expect: stdout hi\\nyo\\nhi\\nyo")
    program(tmp_path, "m.s", HELLO, "# expect: options --memory 5M")
    program(tmp_path, "c.s", HELLO, "# expect: with b\n# expect: exit 0",
            status=0)
    program(tmp_path, "d.s", HELLO, "# expect: with b\n# expect: exit 1=0",
            status=0)
    program(tmp_path, "e.s", HELLO, "# expect: with codeb\n"
            "# expect: exit 0 0x42\n# expect: stdout hi\\nyo\\nB!")
    program(tmp_path, "s.s", SPAWN_B, "# expect: options --program b.s\n"
            "# expect: exit 0 7")
    status, out = ia32k_test(capsys, tmp_path)
    assert f"PASS {tmp_path / 'a.s'} [32]" in out
    assert f"FAIL {tmp_path / 'm.s'} [32]" in out and "--memory: '5M'" in out
    assert f"FAIL {tmp_path / 'c.s'} [32]" in out
    assert "pid 2: expected no such process, got 7" in out
    assert f"PASS {tmp_path / 'd.s'} [32]" in out
    assert f"PASS {tmp_path / 'e.s'} [32]" in out      # userland/tests
    assert f"PASS {tmp_path / 's.s'} [32]" in out      # spawns b by name
    assert status == 1


def test_malformed_header_and_timeout(tmp_path, capsys):
    program(tmp_path, "h.s", HELLO, "# expect: exit 0 zero")
    program(tmp_path, "spin.s", "{header}\nspin: jmp spin\n",
            "# expect: exit 0")
    status, out = ia32k_test(capsys, tmp_path, "--timeout", "2")
    assert (f"{tmp_path / 'h.s'}:1: expect: exit: status 'zero' is not "
            "a number") in out
    assert "did not end within 2.0 s" in out
    assert status == 1


def test_junit_xml_and_jobs(tmp_path, capsys):
    for i in range(4):
        program(tmp_path, f"p{i}.s", HELLO, f"# expect: exit {i % 2}",
                status=0)
    xml = tmp_path / "out.xml"
    status1, out1 = ia32k_test(capsys, tmp_path, "--jobs", "1",
                               "--junit-xml", xml)
    suite = ET.parse(xml).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [f"p{i}.s[32]" for i in range(4)]
    assert [c.find("failure") is not None for c in cases] == [
        False, True, False, True]
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    assert "expected 1, got 0" in cases[1].find("failure").text
    assert cases[0].find("system-out").text == "hi\nyo\n"
    status3, out3 = ia32k_test(capsys, tmp_path, "--jobs", "3")
    assert status1 == status3 == 1
    assert lines(out1) == lines(out3)


def lines(out):
    """The output without its timings."""
    return re.sub(r"\(?[\d.]+ s\)?", "", out).splitlines()


def test_usage_errors(tmp_path, capsys):
    assert main(["test", "--modes", "64", str(tmp_path)]) == 2
    assert main(["test", "--jobs", "0", str(tmp_path)]) == 2
    assert main(["test", str(tmp_path / "gone")]) == 2
    assert main(["test", "--junit-xml", str(tmp_path / "no" / "r.xml"),
                 str(tmp_path)]) == 2
    assert main(["test", str(tmp_path)]) == 1       # nothing to run
    assert "no program with an `expect:` header" in capsys.readouterr().err


RACY = """// expect: with racy
// expect: modes cpus=2+seed=1 races+cpus=2+seed=1
#include "ia32k.h"

int main(int arg)
{
    int id = shm_create(77, 4096, 0666);
    if (id < 0)
        id = shm_lookup(77);
    volatile int *p = (int *)shm_attach(id, 0, 0);
    for (int i = 0; i < 100; i++)
        p[0]++;
    return 0;
}
"""


def test_races_mode_fails_on_a_reported_race(tmp_path, capsys):
    (tmp_path / "racy.c").write_text(RACY)
    status, out = ia32k_test(capsys, tmp_path)
    assert f"PASS {tmp_path / 'racy.c'} [cpus=2+seed=1]" in out
    assert f"FAIL {tmp_path / 'racy.c'} [races+cpus=2+seed=1]" in out
    assert "data race(s) reported" in out
    assert "by pid 2 (racy) on cpu 1" in out and "[racy.c:12]" in out
    assert status == 1


def test_ctrl_c_stops_before_the_next_run(tmp_path):
    program(tmp_path, "a.s", "{header}\nspin: jmp spin\n", "# expect: exit 0")
    program(tmp_path, "b.s", HELLO, "# expect: exit 0")
    p = subprocess.Popen([sys.executable, "-m", "tools.cli", "test", "--jobs",
                          "1", "--timeout", "5", str(tmp_path)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    wait_for_a_child(p.pid)                 # a.s's run has started
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted: 2 run(s) not done" in err
    assert "b.s" not in out and "0 passed, 0 failed" in out


def wait_for_a_child(pid, seconds=60):
    """Wait until process pid has started a child process (Linux /proc)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tasks = Path(f"/proc/{pid}/task")
        if any((t / "children").read_text().strip()
               for t in tasks.iterdir()):
            return
        time.sleep(0.05)
    raise AssertionError("no run started")
