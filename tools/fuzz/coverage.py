"""Kernel line coverage of fuzzed boots, measured by coverage.py's C tracer
restricted to the kernel package. A line is named (path relative to the
repository root, line number), so lines measured on different machines
merge. The tracer runs only while a boot runs (program generation and
assembly are not traced)."""

import contextlib
import os
import warnings

import coverage

import kernel

KERNEL_DIR = os.path.dirname(os.path.abspath(kernel.__file__))
ROOT = os.path.dirname(KERNEL_DIR)


def _relative(path):
    return os.path.relpath(path, ROOT).replace(os.sep, "/")


class KernelCoverage:
    """The kernel lines reached by the boots measured with one instance;
    fresh() after each boot gives the lines that boot reached first."""

    def __init__(self):
        self.cov = coverage.Coverage(data_file=None, config_file=False,
                                     include=[KERNEL_DIR + os.sep + "*"])
        self.seen = set()

    @contextlib.contextmanager
    def measure(self):
        """Trace kernel lines while the body runs."""
        self.cov.start()
        try:
            yield
        finally:
            self.cov.stop()

    def fresh(self):
        """The lines reached since the last call that this instance had
        never seen, as a set of (path, line)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = self.cov.get_data()
        new = set()
        for path in data.measured_files():
            rel = _relative(path)
            new.update((rel, n) for n in data.lines(path) or ()
                       if (rel, n) not in self.seen)
        self.seen |= new
        return new


def kernel_statements():
    """The executable lines of the kernel package, as a set of (path,
    line): what a coverage percentage divides by."""
    from coverage.python import PythonParser
    found = set()
    for d, _, files in os.walk(KERNEL_DIR):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                parser = PythonParser(filename=path)
                parser.parse_source()
                rel = _relative(path)
                found.update((rel, n) for n in parser.statements)
    return found

