"""The command-line side of `--gdb PORT` (on `ia32k run` and `ia32k trace`):
listen on 127.0.0.1, print the one line that says how to connect, wait for
gdb before the first user instruction, run the machine (rebuilding it from
boot whenever gdb goes back in time), and tell gdb when the run ends."""

import argparse
import shlex
import sys
from pathlib import Path

from tools.debug.target import Debugger
from tools.debug import gdbstub
from tools.debug.timeline import Timeline, Travel
from tools.toolchain.cc import build_elf

ELF_MAGIC = b"\x7fELF"


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
                         "gdb thread (see docs/gdb.md)")


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
    if args.gdb is None or (args.seed is None and not args.quantum):
        return None
    return Timeline(rebuild)


def run(k, args, line=None):
    """Run k (under gdb when --gdb was given; line: its Timeline or None).
    Going back in time rebuilds the machine and replays it: returns the
    kernel that finished the run, and the Debugger (or None)."""
    if args.gdb is None:
        k.run()
        return k, None
    dbg = start(k, args, line)
    return drive(k, dbg, line)


def drive(k, dbg, line):
    """Serve dbg's client from its first stop and run k to the end,
    rebuilding the machine from boot (line: its Timeline) each time the
    client goes back in time. Returns the last kernel and its Debugger."""
    try:
        dbg.first_stop()
        k.run()
        return k, dbg
    except Travel as t:
        travel = t
    while True:
        k = line.machine()
        dbg = dbg.reborn(k)
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
    dbg = Debugger(k, line)
    dbg.client = gdbstub.GdbStub(dbg, conn)
    return dbg


def finish(dbg, status):
    """The run ended with exit status `status`: tell gdb (W packet)."""
    if dbg is not None:
        dbg.finished(status)
