"""The pytest plugin: programs with headers are collected as one item per
mode, failures show the diff, and the package declares it to pytest."""

import os
import subprocess
import sys
import tomllib

from tests.conftest import ROOT
from tools.testrun.suite import collect

GOOD = "# expect: exit 5\n# expect: modes 32 pae\nmov ebx, 5\n" \
       "mov eax, SYS_EXIT\nint 0x80\n"
BAD = """# expect: stdout hello
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [msg]
    mov edx, 4
    int 0x80
    mov ebx, 0
    mov eax, SYS_EXIT
    int 0x80
msg: .ascii "bye\\n"
"""
PLUGIN = "tools.testrun.pytest_plugin"


def pytest_in(tmp_path, *args, pythonpath=()):
    """Run pytest in tmp_path (no ini file there): (status, output)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT),
                                                       *pythonpath]))
    r = subprocess.run([sys.executable, "-m", "pytest", "-p",
                        "no:cacheprovider", *args], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def lab(tmp_path):
    (tmp_path / "good.s").write_text(GOOD)
    (tmp_path / "bad.s").write_text(BAD)
    (tmp_path / "plain.s").write_text("nop\n")
    (tmp_path / "lib.c").write_text("int f(void) { return 1; }\n")


def test_collects_each_mode_and_shows_the_diff(tmp_path):
    lab(tmp_path)
    status, out = pytest_in(tmp_path, "-p", PLUGIN, "-v", ".")
    assert status == 1, out
    assert "good.s::32 PASSED" in out and "good.s::pae PASSED" in out
    assert "bad.s::32 FAILED" in out
    assert "stdout differs" in out and "-hello" in out and "+bye" in out
    assert "Captured stdout call" in out             # bye
    assert "Captured stderr call" not in out         # nothing there
    assert "plain.s" not in out and "lib.c" not in out
    assert "1 failed, 2 passed" in out


def test_modes_option(tmp_path):
    (tmp_path / "bad.s").write_text(BAD)
    status, out = pytest_in(tmp_path, "-p", PLUGIN, "--collect-only", "-q",
                            "--ia32k-modes", "pae+check,cpus=2", ".")
    assert "bad.s::pae+check" in out and "bad.s::cpus=2" in out, out


def test_declared_as_a_pytest11_entry_point(tmp_path):
    """The entry point pyproject.toml declares, installed as pip would
    (a dist-info on the path), loads the plugin without -p."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    points = project["project"]["entry-points"]["pytest11"]
    assert points == {PLUGIN: PLUGIN}
    info = tmp_path / "site" / "lab-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab\n"
                                   "Version: 0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
    lab(tmp_path)
    status, out = pytest_in(tmp_path, "-q", "good.s",
                            pythonpath=[str(tmp_path / "site")])
    assert status == 0 and "2 passed" in out, out
    status, out = pytest_in(tmp_path, "-q", "-p", PLUGIN, "good.s",
                            pythonpath=[str(tmp_path / "site")])
    assert status == 0 and "2 passed" in out, out


def test_project_tests_tree_holds_no_program_to_collect():
    """The plugin collects exactly what `ia32k test` would: nothing in
    tests/, whose programs are written by the tests themselves."""
    cases, broken = collect([ROOT / "tests"])
    assert cases == [] and broken == []
