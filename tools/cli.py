"""`ia32k`: boot a machine and run programs on it (see ABI.md)."""

import argparse
import json
import sys
import traceback

from kernel.kernel import Kernel, KernelPanic
from kernel.memlayout import DEFAULT_MEMORY
from kernel.report import build_report
from tools import trace_cli
from tools.asm import BuildError
from tools.programs import Programs

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
    return ap


def add_run_options(run):
    run.add_argument("programs", nargs="+", metavar="PROGRAM")
    run.add_argument("--program", action="append", default=[],
                     help="make a program spawnable by name")
    run.add_argument("--report", metavar="FILE")
    run.add_argument("--memory", type=parse_size, default=DEFAULT_MEMORY)
    run.add_argument("--quantum", type=int, default=0, metavar="N",
                     help="preempt every N guest instructions (reproducible)")
    trace_cli.add_options(run)


def cmd_run(args):
    if args.quantum < 0:
        raise UsageError("--quantum must be positive")
    programs = Programs(on_error=lambda m: print(f"ia32k: {m}",
                                                 file=sys.stderr))
    for p in args.program:
        programs.add(p)
    boot = [programs.add(p) for p in args.programs]
    k = Kernel(programs, memory=args.memory, quantum=args.quantum)
    tracer = trace_cli.attach(k, args)
    k.boot(boot)
    k.run()
    trace_cli.finish(tracer)
    sys.stdout.flush()
    report = build_report(k)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if all(p["status"] == 0 for p in report["processes"]) else 1


def main(argv=None):
    try:
        args = make_parser().parse_args(argv)
        return {"run": cmd_run, "trace": cmd_run}[args.cmd](args)
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
