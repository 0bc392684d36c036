"""The command-line side of `--last-writes` (on `ia32k run`): the last
writes to one word of memory before an instruction count, each with its
process, instruction, old and new value and source line (stderr, and
`last_writes` in --report). A virtual address (--in-pid) is found by a
first, silent run of the same deterministic machine."""

import argparse
import io
import sys

from kernel.kernel import Console
from tools.debug.lastwrites import LastWrites, Locate, as_json, text

DEFAULT_N = 10


def add_options(ap):
    ap.add_argument("--last-writes", type=_word, default=None,
                    metavar="ADDR[:N]",
                    help="print the last N (default 10) writes to the "
                    "4-byte word at physical address ADDR (or at virtual "
                    "address ADDR of --in-pid's process) by any process "
                    "through any address: who, which instruction, old and "
                    "new value, file:line (needs --seed or --quantum)")
    ap.add_argument("--in-pid", type=int, default=None, metavar="PID",
                    help="--last-writes: ADDR is a virtual address of "
                    "process PID")
    ap.add_argument("--before", type=int, default=None, metavar="T",
                    help="--last-writes: only writes by the first T "
                    "instructions of the run (gdb's `monitor count` and "
                    "the --report's instruction count use the same scale)")


def _word(text):
    addr, _, n = text.partition(":")
    try:
        value, count = int(addr, 0), int(n, 0) if n else DEFAULT_N
    except ValueError:
        value = count = -1
    if not 0 <= value <= 0xFFFFFFFF or count < 1:
        raise argparse.ArgumentTypeError(
            f"--last-writes {text}: expected ADDR[:N], e.g. 0x40000004:3")
    return value, count


def check(args, usage_error):
    """--in-pid and --before need --last-writes; it needs a counted run."""
    if args.last_writes is None:
        if args.in_pid is not None or args.before is not None:
            raise usage_error("--in-pid and --before need --last-writes")
        return
    if args.seed is None and not args.quantum:
        raise usage_error("--last-writes needs --seed S or --quantum N "
                          "(instruction counts of a deterministic run)")


def attach(k, args, machine):
    """Watch the word on k (machine(console) boots a silent copy of the
    run, to locate a virtual address). None when not asked."""
    if args.last_writes is None:
        return None
    addr, _ = args.last_writes
    pa = addr
    if args.in_pid is not None:
        quiet = machine(Console(io.BytesIO(), io.BytesIO()))
        where = Locate(quiet, args.in_pid, addr, args.before)
        quiet.run()
        if where.pa is None:
            raise OSError(0, f"process {args.in_pid} never mapped "
                          f"{addr:#x}", "--last-writes")
        pa = where.pa
    return LastWrites(k, pa, args.before)


def finish(watch, args, report):
    """Print the writes (stderr) and add them to the report."""
    if watch is None:
        return
    addr, n = args.last_writes
    writes = watch.last(n)
    asked = f" (va {addr:#x} of pid {args.in_pid})" \
        if args.in_pid is not None else ""
    sys.stdout.flush()
    print(text(writes, watch.pa, args.before, asked), end="",
          file=sys.stderr)
    report["last_writes"] = as_json(writes)
