"""Shared fixtures: boot a kernel on programs given as source text or as
userland/ names, run it to the end, and hand back what it reported."""

import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.kernel import Console, Kernel
from tools.observe.boot import new_kernel
from tools.observe.report import build_report
from tools.toolchain.programs import Programs

ROOT = Path(__file__).resolve().parent.parent
USERLAND = ROOT / "userland"


@dataclass
class Run:
    kernel: Kernel
    report: dict
    stdout: str
    stderr: str

    def status(self, pid):
        return self.proc(pid)["status"]

    def proc(self, pid):
        return next(p for p in self.report["processes"] if p["pid"] == pid)

    @property
    def statuses(self):
        return [p["status"] for p in self.report["processes"]]

    @property
    def stats(self):
        return self.report["stats"]


def boot(programs, boot, memory=128 << 20, check=True, observers=(), **kw):
    """Boot on the Programs set, start the names in boot, run to the end.
    The invariant checker runs after every syscall and fault unless
    check=False; observers are attached before the first run; kw goes to
    Kernel (quantum, cpus, seed)."""
    out, err = io.BytesIO(), io.BytesIO()
    k = new_kernel(programs, memory=memory, console=Console(out, err),
                   check=check, **kw)
    for o in observers:
        k.attach(o)
    k.boot(boot)
    k.run()
    return Run(k, build_report(k), out.getvalue().decode("latin-1"),
               err.getvalue().decode("latin-1"))


@pytest.fixture
def run_sources(tmp_path):
    """run_sources({"name.s": "asm...", ...}, boot=[names]) -> Run.
    Every source becomes spawnable by its name; boot defaults to all."""
    def run(sources, boot_names=None, **kw):
        progs = Programs()
        names = []
        for fname, text in sources.items():
            path = tmp_path / fname
            path.write_text(text)
            names.append(progs.add(path))
        return boot(progs, boot_names or names, **kw)
    return run


@pytest.fixture
def run_userland():
    """run_userland("name", ...) boots programs under userland/ by name."""
    def run(*names, **kw):
        return boot(Programs(), list(names), **kw)
    return run


@pytest.fixture
def ia32k(tmp_path):
    """Run the real command line: ia32k(args...) -> CompletedProcess."""
    def run(*args, timeout=120):
        return subprocess.run([sys.executable, "-m", "tools.cli", *args],
                              cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    return run
