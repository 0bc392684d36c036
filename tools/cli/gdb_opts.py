"""The command-line side of `--gdb PORT` (on `ia32k run` and `ia32k trace`):
listen on 127.0.0.1, print the one line that says how to connect, wait for
gdb before the first user instruction (or at --stop-at), run the machine
(rebuilding it from boot, or handing over to a checkpoint, whenever gdb
goes back in time), and tell gdb when the run ends."""

import argparse
import shlex
import sys
from pathlib import Path

from tools.debug.target import Debugger
from tools.debug import checkpoints, gdbstub
from tools.debug.checkpoints import Checkpoints, Supervisor
from tools.debug.stops import Reason, Stop
from tools.debug.timeline import Goal, Replay, Timeline, Travel
from tools.toolchain.cc import build_elf
from tools.toolchain.programs import ELF_MAGIC


def port(text):
    """A TCP port number for --gdb (0: let the host pick a free one)."""
    try:
        n = int(text, 10)
    except ValueError:
        n = -1
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"--gdb {text}: not a port (0-65535)")
    return n


def add_options(ap):
    ap.add_argument("--gdb", type=port, default=None, metavar="PORT",
                    help="wait for gdb on 127.0.0.1:PORT (0: any free port) "
                         "before the first instruction; every process is a "
                         "gdb thread (see docs/gdb.md); with --seed or "
                         "--quantum, gdb can also go back in time "
                         "(reverse-stepi, reverse-continue, ...)")
    add_checkpoint_options(ap)
    ap.add_argument("--stop-at", type=moment, default=None, metavar="T[:PID]",
                    help="with --gdb on a --seed or --quantum run: gdb's "
                    "first stop is after the first T instructions (with "
                    "process PID about to run, if given) instead of before "
                    "the first one; --races reports name T for the second "
                    "access of each racing pair")


def add_checkpoint_options(ap):
    ap.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                    help="with --gdb on a --seed or --quantum run: keep a "
                    "checkpoint of the whole machine (a forked copy of the "
                    "process) every N instructions, so that going back "
                    "replays from the nearest one instead of from boot "
                    "(0, the default: none)")
    ap.add_argument("--checkpoints-kept", type=int, default=16,
                    metavar="K", help="at most K checkpoints live; when "
                    "one more is due, every other one goes and the "
                    "interval doubles (default 16)")


def moment(text):
    """T[:PID] for --stop-at."""
    t, _, pid = text.partition(":")
    try:
        value = (int(t, 0), int(pid, 0) if pid else None)
    except ValueError:
        value = (-1, None)
    if value[0] < 0:
        raise argparse.ArgumentTypeError(f"--stop-at {text}: expected "
                                         "T[:PID], T an instruction count")
    return value


def deterministic(args):
    """A run whose instruction counts repeat: --seed or --quantum."""
    return args.seed is not None or bool(args.quantum)


def check(args, usage_error):
    for name, value in (("--stop-at", args.stop_at),
                        ("--checkpoint-every", args.checkpoint_every or None)):
        if value is not None and (args.gdb is None or
                                  not deterministic(args)):
            raise usage_error(f"{name} needs --gdb and --seed S or "
                              "--quantum N")
    if args.checkpoint_every < 0 or args.checkpoints_kept < 1:
        raise usage_error("--checkpoint-every must be at least 0 and "
                          "--checkpoints-kept at least 1")


def symbol_file(path):
    """The ELF gdb should load for the program at path, or None (a flat
    binary or assembly has no symbols)."""
    path = Path(path)
    if path.suffix == ".c":
        return build_elf(path).resolve()
    try:
        with open(path, "rb") as f:
            return path.resolve() if f.read(4) == ELF_MAGIC else None
    except OSError:
        return None


def gdb_command(port, elf):
    """The gdb command line to type: load the ELF's symbols, connect."""
    first = f"file {elf}" if elf else "set architecture i386"
    return (f"gdb -q -ex {shlex.quote(first)} "
            f"-ex {shlex.quote(f'target remote :{port}')}")


def timeline(args, rebuild):
    """The Timeline of a --gdb run that can go back in time (--seed or
    --quantum): rebuild(console) boots the same machine again. None
    otherwise."""
    if args.gdb is None or not deterministic(args):
        return None
    line = Timeline(rebuild)
    if args.checkpoint_every:
        line.supervisor = Supervisor()
        line.checkpoints = Checkpoints(args.checkpoint_every,
                                       args.checkpoints_kept,
                                       line.supervisor)
    return line


def run(k, args, line=None):
    """Run k (under gdb when --gdb was given; line: its Timeline or None).
    Going back in time rebuilds the machine and replays it: returns the
    kernel that finished the run, and the Debugger (or None)."""
    if args.gdb is None:
        k.run()
        return k, None
    dbg = start(k, args, line)
    return drive(k, dbg, line, args.stop_at)


def drive(k, dbg, line, stop_at=None):
    """Serve dbg's client from its first stop (at the start, or stop_at:
    (T, pid or None)) and run k to the end, rebuilding the machine from
    boot (line: its Timeline) each time the client goes back in time.
    Returns the last kernel and its Debugger."""
    try:
        if stop_at is None:
            dbg.first_stop()
        else:
            dbg.travel.replay = Replay(Goal(*stop_at,
                                            Stop(None, Reason.START)))
        k.run()
        return k, dbg
    except Travel as t:
        travel = t
    while True:
        c = line.origin(travel.replay)
        if c is not None:            # never returns
            dbg.client.conn.pause_reading()
            line.checkpoints.hand_over(c, checkpoints.handover(
                dbg, travel.replay))
        k = line.machine()
        dbg = dbg.reborn(k)
        travel.replay.since = 0
        dbg.travel.replay = travel.replay
        try:
            k.run()
            return k, dbg
        except Travel as t:
            travel = t


def start(k, args, line=None):
    """When --gdb was given: listen, say so on stderr and wait for gdb.
    Returns the Debugger (serving gdb from its first stop) or None."""
    if args.gdb is None:
        return None
    try:
        server = gdbstub.listen(args.gdb)
    except OSError as e:
        raise OSError(e.errno, e.strerror, f"--gdb {args.gdb}") from None
    port = server.getsockname()[1]
    elf = symbol_file(args.programs[0])
    print(f"ia32k: gdb: waiting on 127.0.0.1:{port}; connect with: "
          f"{gdb_command(port, elf)}", file=sys.stderr, flush=True)
    conn = gdbstub.accept_one(server)
    if line is not None and line.checkpoints is not None:
        line.supervisor.fork()       # this process only waits from now on
    dbg = Debugger(k, line)
    dbg.client = gdbstub.GdbStub(dbg, conn)
    return dbg


def finish(dbg, status, line=None):
    """The run ended with exit status `status`: tell gdb (W packet), and
    the process waiting for the machine's processes (checkpoints)."""
    if dbg is not None:
        dbg.finished(status)
    if line is not None and line.checkpoints is not None:
        line.checkpoints.ended(status)

