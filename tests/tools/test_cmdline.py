"""Every `python -m tools...` entry point answers --help with its usage
and exits 0 without starting its work (tools/cmdline.py for those that
take no options), and refuses an argument it does not know."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def entry_points():
    """Dotted names of the tool packages with a __main__ and the tool
    modules with a `__main__` block."""
    found = set()
    for path in (ROOT / "tools").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        if path.name == "__main__.py":
            found.add(".".join(rel.parts[:-1]))
        elif 'if __name__ == "__main__":' in path.read_text():
            found.add(".".join(rel.parts))
    return sorted(found)


def test_entry_points_are_found():
    names = entry_points()
    assert {"tools.bench", "tools.fuzz", "tools.cli",
            "tools.fuzz.plot"} <= set(names)


@pytest.mark.parametrize("module", entry_points())
def test_help_prints_usage_and_exits(module):
    r = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:"), r.stdout[:200]


def test_an_unknown_argument_is_refused():
    r = subprocess.run([sys.executable, "-m", "tools.bench", "--nope"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
