"""The pytest plugin: every program (.s, .asm, .c) with an expectation
header under the paths pytest collects is a file whose items are its modes,
each run as `ia32k test` runs it, failing with the same readable diff."""

import pytest

from tools.testrun.header import COMMENT, HeaderError, parse_header, split_modes
from tools.testrun.runner import Case, run_case
from tools.testrun.suite import DEFAULT_MODES


def pytest_addoption(parser):
    parser.getgroup("ia32k").addoption(
        "--ia32k-modes", default=",".join(DEFAULT_MODES), metavar="MODE,...",
        help="the modes (as `ia32k test --modes`: 32,pae+cpus=2) of each "
        "program without its own `expect: modes` line; default 32")


def pytest_collect_file(file_path, parent):
    """A ProgramFile for a program whose first comment block has an
    `expect:` line (or a malformed one), else nothing."""
    if file_path.suffix not in COMMENT:
        return None
    try:
        expect = parse_header(file_path)
    except HeaderError as e:
        return BrokenHeader.from_parent(parent, path=file_path, error=e)
    if expect is None:
        return None
    return ProgramFile.from_parent(parent, path=file_path, expect=expect)


class ProgramFile(pytest.File):
    def __init__(self, *, expect, **kw):
        super().__init__(**kw)
        self.expect = expect

    def collect(self):
        modes = self.expect.modes or split_modes(
            self.config.getoption("ia32k_modes"))
        for mode in modes:
            yield ProgramItem.from_parent(self, name=mode,
                                          case=Case(self.expect, mode))


class ProgramFailure(Exception):
    """A run that did not do what its header expects."""


class ProgramItem(pytest.Item):
    def __init__(self, *, case, **kw):
        super().__init__(**kw)
        self.case = case

    def runtest(self):
        outcome = run_case(self.case)
        for name in ("stdout", "stderr"):
            if getattr(outcome, name):
                self.add_report_section("call", name, getattr(outcome, name))
        if not outcome.passed:
            raise ProgramFailure("\n".join(outcome.failures))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, (ProgramFailure, HeaderError)):
            return f"{self.case.path} [{self.case.mode}]:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name} [{self.case.mode}]"


class BrokenHeader(pytest.File):
    """A program whose header does not parse: one failing item naming the
    line."""

    def __init__(self, *, error, **kw):
        super().__init__(**kw)
        self.error = error

    def collect(self):
        yield HeaderItem.from_parent(self, name="header", error=self.error)


class HeaderItem(pytest.Item):
    def __init__(self, *, error, **kw):
        super().__init__(**kw)
        self.error = error

    def runtest(self):
        raise self.error

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, None, f"{self.path.name} header"
