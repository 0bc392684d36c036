"""The command-line side of `--strace [FILE]` (tools/observe/strace.py):
system calls to stderr, or to FILE ('-': stdout; JSON lines when FILE ends
in .jsonl). Nothing is attached without the option, so untraced runs pay
one attribute test per call."""

from pathlib import Path

from tools.cli import outputs
from tools.observe.strace import Strace

STDERR = ""


def add_options(ap, which=""):
    ap.add_argument("--strace", nargs="?", const=STDERR, default=None,
                    metavar="FILE",
                    help="trace every system call" + which + ": pid, call, "
                    "decoded arguments, result with its errno name; to "
                    "stderr, or to FILE ('-': stdout; JSON lines when FILE "
                    "ends in .jsonl)")


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


def race_traces(args, scenario, search):
    """`ia32k race --strace`: the system calls of each distinct outcome's
    first seed, run again (the same seed runs the same way), each under a
    '# outcome N: seed S' header."""
    if args.strace is None:
        return
    from tools.race.finder import run_seed
    out = outputs.open_text(args.strace or None)
    jsonl = Path(args.strace).suffix == ".jsonl"
    for i, o in enumerate(search.outcomes, 1):
        if not jsonl:
            out.write(f"# outcome {i}: seed {o.first.seed}\n")
        trace = Strace(out, jsonl, {"race_outcome": i,
                                    "seed": o.first.seed})
        run_seed(scenario, o.first.seed, [trace])
    outputs.close(out)
