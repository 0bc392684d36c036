"""The command-line side of `--strace [FILE]` (tools/observe/strace.py):
system calls to stderr, or to FILE ('-': stdout; JSON lines when FILE ends
in .jsonl). Nothing is attached without the option, so untraced runs pay
one attribute test per call."""

from pathlib import Path

from tools.cli import outputs
from tools.observe.strace import Strace

STDERR = ""


def add_options(ap):
    ap.add_argument("--strace", nargs="?", const=STDERR, default=None,
                    metavar="FILE",
                    help="trace every system call: pid, call, decoded "
                    "arguments, result with its errno name; to stderr, "
                    "or to FILE ('-': stdout; JSON lines when FILE ends in "
                    ".jsonl)")


def check(args, usage_error):
    if args.strace:
        outputs.check("--strace", args.strace, usage_error)


def attach(k, args):
    """A Strace observing k when asked for, else None."""
    if args.strace is None:
        return None
    out = outputs.open_text(args.strace or None)
    return k.attach(Strace(out, Path(args.strace).suffix == ".jsonl"))


def finish(strace):
    if strace is not None:
        outputs.close(strace.out)
