"""The `ia32k test` subcommand: its options, and the run that prints one
PASS/FAIL line per program and mode, the failures' diffs and a summary."""

import os
import sys
import time

from tools.testrun.junit import write_junit
from tools.testrun.header import split_modes
from tools.testrun.runner import DEFAULT_TIMEOUT
from tools.testrun.suite import DEFAULT_MODES, collect, run_all

EXIT_INTERRUPTED = 130       # as a shell reports a run ended by Ctrl-C

DESCRIPTION = """Run every program (.s, .asm, .c) under PATH that carries an
expectation header: `expect:` lines in its first comment block (`#` in
assembly, `//` in C) saying what the run must end with. Each program runs
through `ia32k run` once per mode; exit status 0 only when every run is as
expected. See docs/testing-programs.md."""


def add_parser(sub):
    """`test` under the subparsers sub."""
    p = sub.add_parser("test", help="run programs and check them against "
                       "their `expect:` headers", description=DESCRIPTION)
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                   help="program files or directories searched recursively "
                   "(default: the current directory)")
    p.add_argument("--modes", default=",".join(DEFAULT_MODES),
                   metavar="MODE,...",
                   help="run each program without its own `expect: modes` "
                   "line once in each MODE: 32, pae, cpus=N, seed=S, check, "
                   "races, or several joined by + (--modes 32,pae+cpus=2 "
                   "is two runs); default 32")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   metavar="N", help="runs at once, each its own process "
                   "(default: every core); results and their order are the "
                   "same as with --jobs 1")
    p.add_argument("--junit-xml", metavar="FILE",
                   help="also write a JUnit XML report to FILE ('-': "
                   "stdout), for CI servers to display")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   metavar="SECONDS", help="a run still going after SECONDS "
                   f"is stopped and fails (default {DEFAULT_TIMEOUT})")
    return p


def check_options(args, usage_error):
    """Raise usage_error for options no run could use."""
    if args.jobs < 1:
        raise usage_error("--jobs must be at least 1")
    if args.timeout <= 0:
        raise usage_error("--timeout must be positive")
    try:
        args.modes = split_modes(args.modes)
    except ValueError as e:
        raise usage_error(f"--modes: {e}") from None
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise usage_error(f"{missing[0]}: no such file or directory")
    where = os.path.dirname(args.junit_xml or "-") or "."
    if args.junit_xml not in (None, "-") and not os.path.isdir(where):
        raise usage_error(f"--junit-xml {args.junit_xml}: no directory "
                          f"{where}")


def cmd_test(args, usage_error):
    """Run the suite; 0 when every run passed, 1 otherwise."""
    check_options(args, usage_error)
    start = time.monotonic()
    cases, broken = collect(args.paths, args.modes)
    out = sys.stderr if args.junit_xml == "-" else sys.stdout
    if not cases and not broken:
        print("ia32k: no program with an `expect:` header under "
              + " ".join(args.paths), file=sys.stderr)
    outcomes = list(broken)
    for o in broken:
        print_outcome(o, out)
    try:
        for o in run_all(cases, args.jobs, args.timeout):
            print_outcome(o, out)
            outcomes.append(o)
    except KeyboardInterrupt:
        print(f"ia32k: interrupted: {len(cases) + len(broken) - len(outcomes)}"
              " run(s) not done", file=sys.stderr)
        finish(args, outcomes, time.monotonic() - start, out)
        return EXIT_INTERRUPTED
    return finish(args, outcomes, time.monotonic() - start, out)


def finish(args, outcomes, seconds, out):
    """Write the JUnit report if asked, print the summary; 0 when every
    outcome passed (and there was one), else 1."""
    if args.junit_xml:
        write_junit(outcomes, seconds, args.junit_xml)
    failed = sum(not o.passed for o in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed in "
          f"{seconds:.1f} s", file=out)
    return 0 if outcomes and not failed else 1


def print_outcome(o, out):
    """`PASS path [mode]`, or FAIL with each failure text indented."""
    word = "PASS" if o.passed else "FAIL"
    print(f"{word} {o.case.path} [{o.case.mode}] ({o.seconds:.1f} s)",
          file=out)
    for text in o.failures:
        print("  " + text.replace("\n", "\n  "), file=out)
    out.flush()
