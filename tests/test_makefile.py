"""Set-up by need: `make run` asks only for gcc and the venv; `make test`
adds gdb, chromium and its driver, the test packages, and runs the suite in
parallel. Read from make's own dry run (-n -B: every command, none run)."""

import subprocess

from tests.conftest import ROOT


def dry_run(target):
    return subprocess.run(["make", "--no-print-directory", "-n", "-B",
                           target], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def test_make_run_needs_only_gcc_and_the_venv():
    out = dry_run("run")
    assert "-m tools.sysdeps gcc\n" in out
    assert "pip install -q -e .\n" in out
    for extra in ("gdb", "chromium", "[test]", "apt-get"):
        assert extra not in out


def test_make_test_sets_up_the_rest_and_runs_in_parallel():
    out = dry_run("test")
    assert "-m tools.sysdeps gdb chromium chromedriver=chromium-driver" in out
    assert "pip install -q -e '.[test]'" in out
    assert out.rstrip().endswith("-m pytest -n auto")
    assert "apt-get" not in out          # only through tools/sysdeps.py


def test_make_fuzz_passes_the_fuzz_commands_make_fuzz_options():
    from tools.fuzz.command import MAKE_FUZZ
    line = next(x for x in dry_run("fuzz").splitlines()
                if "-m tools.fuzz " in x)
    assert f" {' '.join(MAKE_FUZZ)} " in line
