"""The command-line side of `--races` on a deterministic run (`ia32k
run --races --seed S`): each race report gains the command that replays
the run under gdb stopped just before the pair's second access
(tools/race/replay.py finds when that is)."""

import shlex

from kernel.memlayout import DEFAULT_MEMORY
from tools.cli.gdb_opts import deterministic
from tools.race.replay import SecondAccess, gdb_lines
from tools.race.watch import RaceWatch


def run_command(args):
    """The `ia32k run` command line that repeats this deterministic run
    (programs, machine and schedule options)."""
    words = ["ia32k", "run", *args.programs]
    for p in args.program:
        words += ["--program", p]
    for flag, value, default in (
            ("--paging", args.paging, "32"), ("--memory", args.memory, None),
            ("--cpus", args.cpus, 1), ("--quantum", args.quantum, 0),
            ("--seed", args.seed, None), ("--schedule", args.schedule, None),
            ("--depth", args.depth, None), ("--steps", args.steps, None)):
        if value is not None and value != default and not (
                flag == "--memory" and value == DEFAULT_MEMORY):
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def attach(k, args, machine):
    """On a deterministic --races run, each race report gains the command
    that replays the run under gdb stopped just before its second access,
    and the watchpoint that reverse-continue then follows back to the
    last access before it (machine(): a booted, silent copy of the run)."""
    races = k.observer(RaceWatch)
    if races is None or not deterministic(args):
        return
    found = []

    def lines(r):
        if not found:
            found.append(SecondAccess(machine, races.verdicts))
        m = found[0].moment(r)
        if m is None:
            return []
        return gdb_lines(run_command(args), m, r.va_b, r.b.size)
    races.replay = lines
