"""`ia32k`: boot a machine and run programs on it (see ABI.md)."""

import argparse
import json
import sys
import traceback

from kernel.debug import EndRun
from kernel.kernel import Kernel, KernelPanic
from kernel.maps import MapsPrinter
from kernel.memlayout import DEFAULT_MEMORY
from kernel.report import build_report
from kernel.shm import ipcs_text
from tools import gdb_cli, html_cli, trace_cli
from tools.asm import BuildError
from tools.programs import Programs
from tools.race import find_races, format_outcomes, parse_seeds

EXIT_USAGE = 2
EXIT_PANIC = 70


class UsageError(Exception):
    pass


def parse_size(text):
    """'128M', '64MiB', '1G', '1048576' -> bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    try:
        n = int(t[:-1] if mult > 1 else t, 0) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}") from None
    if n < 8 << 20 or n > 1 << 30 or n % (4 << 20):
        raise argparse.ArgumentTypeError(
            f"--memory {text}: must be 8 MiB to 1 GiB, a multiple of 4 MiB")
    return n


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def make_parser():
    ap = Parser(prog="ia32k", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="boot and run programs")
    add_run_options(run)
    trace = sub.add_parser("trace", help="run programs, printing a "
                           "page-walk trace (stdout, or --trace FILE)")
    add_run_options(trace)
    trace.set_defaults(trace="-")
    add_race_parser(sub)
    return ap


def add_run_options(run):
    run.add_argument("programs", nargs="+", metavar="PROGRAM")
    run.add_argument("--program", action="append", default=[],
                     help="make a program spawnable by name")
    run.add_argument("--report", metavar="FILE")
    run.add_argument("--memory", type=parse_size, default=DEFAULT_MEMORY)
    run.add_argument("--quantum", type=int, default=0, metavar="N",
                     help="preempt every N guest instructions (reproducible)")
    run.add_argument("--cpus", type=int, default=1, metavar="N",
                     help="emulated CPUs sharing one physical memory (1-8)")
    run.add_argument("--seed", type=int, default=None, metavar="S",
                     help="slice lengths drawn from a PRNG seeded by S "
                          "(reproducible interleavings)")
    run.add_argument("--check", action="store_true",
                     help="run the invariant checker after every syscall "
                          "and fault (slow)")
    run.add_argument("--ipcs", action="store_true",
                     help="print the shared memory segments at the end "
                     "(stderr)")
    run.add_argument("--races", action="store_true",
                     help="report data races on shared memory: two "
                     "processes touching one physical byte, at least one "
                     "writing, with no happens-before order between them "
                     "(stderr, and `races` in --report)")
    run.add_argument("--maps", action="store_true",
                     help="print each process's memory map as it exits "
                     "(stderr)")
    trace_cli.add_options(run)
    gdb_cli.add_options(run)
    html_cli.add_options(run)


def add_race_parser(sub):
    race = sub.add_parser("race", help="run under many seeds and group the "
                                       "outcomes (a race finder)")
    race.add_argument("programs", nargs="+", metavar="PROGRAM")
    race.add_argument("--program", action="append", default=[])
    race.add_argument("--seeds", default="0..49", metavar="A..B")
    race.add_argument("--cpus", type=int, default=2, metavar="N")
    race.add_argument("--quantum", type=int, default=0, metavar="N",
                      help="mean slice length (default 1000)")
    race.add_argument("--memory", type=parse_size, default=DEFAULT_MEMORY)
    race.add_argument("--ignore-output", action="store_true",
                      help="compare only exit statuses and shared memory")


def check_machine_options(args):
    """--quantum and --cpus, as `run`, `trace` and `race` all take them."""
    if args.quantum < 0:
        raise UsageError("--quantum must be positive")
    if not 1 <= args.cpus <= 8:
        raise UsageError("--cpus must be 1 to 8")


def cmd_run(args):
    check_machine_options(args)
    page_path = html_cli.check_output(args, UsageError)
    programs = _programs(args)
    boot = [programs.add(p) for p in args.programs]
    k = Kernel(programs, memory=args.memory, quantum=args.quantum,
               cpus=args.cpus, seed=args.seed, check=args.check,
               races=getattr(args, "races", False))
    if args.maps:
        k.extensions.append(MapsPrinter(k.console))
    page = html_cli.attach(k, page_path, boot)
    tracer = trace_cli.attach(k, args, [page.record] if page else ())
    k.boot(boot)
    try:
        dbg = gdb_cli.start(k, args)
        k.run()
    except EndRun as e:
        print(f"ia32k: run ended: {e}", file=sys.stderr)
        return 1
    trace_cli.finish(tracer)
    html_cli.finish(page, page_path)
    sys.stdout.flush()
    if args.ipcs:
        print(ipcs_text(k.shm), end="", file=sys.stderr)
    report = build_report(k)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    status = 0 if all(p["status"] == 0 for p in report["processes"]) else 1
    gdb_cli.finish(dbg, status)
    return status


def cmd_race(args):
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError:
        raise UsageError(f"--seeds {args.seeds}: expected A..B") from None
    check_machine_options(args)
    programs = _programs(args)
    boot = [programs.add(p) for p in args.programs]
    outcomes = find_races(programs, boot, seeds, args.cpus, args.quantum,
                          args.memory, args.ignore_output)
    print(format_outcomes(outcomes, len(seeds)))
    return 0 if len(outcomes) == 1 else 1


def _programs(args):
    programs = Programs(on_error=lambda m: print(f"ia32k: {m}",
                                                 file=sys.stderr))
    for p in args.program:
        programs.add(p)
    return programs


def main(argv=None):
    try:
        args = make_parser().parse_args(argv)
        return {"run": cmd_run, "trace": cmd_run,
                "race": cmd_race}[args.cmd](args)
    except (UsageError, BuildError) as e:
        print(f"ia32k: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"ia32k: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except KernelPanic as e:
        print(f"ia32k: kernel panic: {e}", file=sys.stderr)
        return EXIT_PANIC
    except Exception as e:  # noqa: BLE001 - a kernel bug: say where
        print(panic_text(e), file=sys.stderr)
        return EXIT_PANIC


def panic_text(e):
    """'kernel panic in func (file:line): Error: msg' plus the traceback."""
    tb = traceback.extract_tb(e.__traceback__)
    where = tb[-1] if tb else None
    head = (f"ia32k: kernel panic in {where.name} ({where.filename}:"
            f"{where.lineno}): {type(e).__name__}: {e}" if where else
            f"ia32k: kernel panic: {type(e).__name__}: {e}")
    return head + "\n" + "".join(traceback.format_exception(e))


if __name__ == "__main__":
    sys.exit(main())
