"""Run one program in one mode through `ia32k run` (a child process, so the
run is exactly what the command line does and a runaway run can be killed)
and compare what it did with its Expect."""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools import ROOT
from tools.testrun.compare import failures
from tools.testrun.header import COMMENT, mode_options
from tools.toolchain.programs import userland_programs

DEFAULT_TIMEOUT = 120


@dataclass
class Case:
    """One program (its Expect) in one mode."""
    expect: object
    mode: str

    @property
    def path(self):
        return self.expect.path

    @property
    def name(self):
        return f"{self.path.name}[{self.mode}]"


@dataclass
class Outcome:
    """How a case went: failures empty when it passed."""
    case: object
    failures: list = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def passed(self):
        return not self.failures


def with_path(base, name):
    """A `with` program: a file next to the test (its name, or its name
    plus .s/.asm/.c), else the userland/ program of that name, else the
    name as given (for `ia32k run` to refuse)."""
    for cand in [name] + [name + s for s in COMMENT]:
        if (base / cand).is_file():
            return cand
    return str(userland_programs().get(name, name))


def command(case, report):
    """The `ia32k run` command line of case, writing its report to report."""
    e = case.expect
    base = e.path.parent
    return [sys.executable, "-m", "tools.cli", "run", "--report", report,
            *mode_options(case.mode), *e.options, e.path.name,
            *(with_path(base, w) for w in e.with_programs)]


def child_env():
    """The environment of a run: this project first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def run_case(case, timeout=DEFAULT_TIMEOUT):
    """Run case to its end (or kill it after timeout seconds): an Outcome."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ia32k-test-") as tmp:
        report_path = Path(tmp) / "report.json"
        try:
            r = subprocess.run(command(case, str(report_path)),
                               cwd=case.path.parent, env=child_env(),
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as t:
            return Outcome(case, [f"the run did not end within {timeout} s "
                                  "and was stopped"], decode(t.stdout),
                           decode(t.stderr), time.monotonic() - start)
        report = (json.loads(report_path.read_text())
                  if report_path.exists() else None)
    out, err = decode(r.stdout), decode(r.stderr)
    return Outcome(case, failures(case, r.returncode, report, out, err),
                   out, err, time.monotonic() - start)


def decode(data):
    return (data or b"").decode("utf-8", errors="replace")
