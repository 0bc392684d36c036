"""Collect the programs with expectation headers under some paths, one Case
per program and mode, and run them (in parallel with jobs > 1)."""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.testrun.header import COMMENT, Expect, HeaderError, parse_header
from tools.testrun.runner import DEFAULT_TIMEOUT, Case, Outcome, run_case

DEFAULT_MODES = ("32",)
SKIP_DIRS = {"__pycache__", "node_modules", "site"}


def program_files(paths):
    """Every .s/.asm/.c file named by paths (directories recursively, in
    name order, hidden and build directories left out); files named
    directly are kept whatever their kind."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(sources_under(p))
        else:
            yield p


def sources_under(top):
    for d, dirs, files in os.walk(top):
        dirs[:] = [n for n in dirs
                   if not n.startswith(".") and n not in SKIP_DIRS]
        yield from (Path(d) / f for f in files if Path(f).suffix in COMMENT)


def collect(paths, modes=DEFAULT_MODES):
    """(cases, broken): a Case per header-carrying program and mode (its
    own modes, else modes), and an Outcome for each file whose header is
    malformed, or that was named directly and has none."""
    cases, broken = [], []
    for f in program_files(paths):
        try:
            expect = parse_header(f)
            if expect is None and Path(f) in map(Path, paths):
                raise HeaderError(f"{f}: no `expect:` line in its first "
                                  "comment block")
        except (HeaderError, OSError) as e:
            broken.append(Outcome(Case(Expect(Path(f)), "header"), [str(e)]))
            continue
        if expect:
            cases += [Case(expect, m) for m in expect.modes or modes]
    return cases, broken


def run_all(cases, jobs=1, timeout=DEFAULT_TIMEOUT):
    """The Outcome of every case, in the order of cases, jobs at a time;
    when the caller stops early (Ctrl-C), runs not yet started never start."""
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        yield from pool.map(lambda c: run_case(c, timeout), cases)
    finally:
        pool.shutdown(cancel_futures=True)
