"""pyflakes finds nothing in emu/, kernel/ and tools/: no undefined name (a
module no test imports, such as a bench section, would otherwise break
unseen), no unused import, no placeholder-less f-string."""

from pyflakes.api import checkPath
from pyflakes.reporter import Reporter

from tests.conftest import ROOT


class Collect(Reporter):
    def __init__(self):
        self.found = []

    def unexpectedError(self, filename, msg):
        self.found.append(f"{filename}: {msg}")

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.found.append(f"{filename}:{lineno}: {msg}")

    def flake(self, message):
        self.found.append(str(message))


def test_pyflakes_finds_nothing():
    report = Collect()
    for package in ("emu", "kernel", "tools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            checkPath(str(path), report)
    assert report.found == []


def test_an_undefined_name_is_found(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    return _Images()\n")
    report = Collect()
    checkPath(str(bad), report)
    assert len(report.found) == 1 and "_Images" in report.found[0]
