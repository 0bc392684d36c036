"""`ia32k`: boot a machine and run programs on it (see docs/abi.md)."""

import argparse
import io
import json
import sys
import traceback

from tools.debug.target import EndRun
from kernel.kernel import Console, KernelPanic
from tools.observe.boot import new_kernel
from tools.observe.maps import MapsPrinter
from kernel.memlayout import DEFAULT_MEMORY
from tools.observe.report import build_report
from tools.observe.ipcs import ipcs_text
from tools.observe.legend import legend
from tools.cli import gdb_opts as gdb_cli
from tools.cli import html_opts as html_cli
from tools.cli import lastwrites_opts as lastwrites_cli
from tools.cli import limits
from tools.cli import outputs
from tools.cli import race_replay_opts as race_replay_cli
from tools.cli import strace_opts as strace_cli
from tools.cli import trace_opts as trace_cli
from tools.fuzz import cluster
from tools.race import finder as racefind
from tools.toolchain.asm import BuildError
from tools.toolchain.programs import Programs
from tools.testrun import command as test_cli

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
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (bytes, or with K, M or G: 32M)") from None
    if n < 8 << 20 or n > 1 << 30 or n % (4 << 20):
        raise argparse.ArgumentTypeError(
            f"{text!r} must be 8 MiB to 1 GiB, a multiple of 4 MiB")
    return n


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


EXIT_CODES = f"""exit status (race: 0 when every seed had one outcome and
no race was found, else 1; 2 and 70 as below):
  0    every process exited with status 0
  1    some process exited otherwise (or was killed: see stderr)
  2    a usage error: a bad option, or a program that does not build
  {limits.EXIT_STATUS['timeout']}  --timeout ended the run
  {limits.EXIT_STATUS['max-instructions']}  --max-instructions ended the run
  {limits.EXIT_STATUS['interrupt']}  Ctrl-C (SIGINT) ended the run
  70   a kernel panic (a bug in ia32k; the message says where)"""


def make_parser():
    ap = Parser(prog="ia32k", description=__doc__, epilog=EXIT_CODES,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version",
                    version=f"ia32k {version()}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="boot and run programs",
                         epilog=EXIT_CODES, formatter_class=argparse.
                         RawDescriptionHelpFormatter)
    add_run_options(run)
    trace = sub.add_parser("trace", help="run programs, printing a "
                           "page-walk trace (stdout, or --trace FILE)",
                           epilog=EXIT_CODES, formatter_class=argparse.
                           RawDescriptionHelpFormatter)
    add_run_options(trace)
    trace.set_defaults(trace="-")
    add_race_parser(sub)
    test_cli.add_parser(sub)
    return ap


PAGING_HELP = ("page-table format: 32 = classic two-level paging (4 KiB "
               "and 4 MiB pages, no no-execute bit); pae = three levels of "
               "64-bit entries (4 KiB and 2 MiB pages) with no-execute "
               "stacks, shm and ELF data (default 32)")


SHOOTDOWN_HELP = ("on (default): when the kernel removes or reduces a "
                  "translation, every other CPU running that address space "
                  "flushes its TLB before the call returns (a TLB "
                  "shootdown); off (teaching only): no CPU is told, so a "
                  "thread may go on using the old translation, and each "
                  "such access is reported (stderr and the report's "
                  "stale_tlb)")


def add_paging_option(parser):
    parser.add_argument("--paging", choices=("32", "pae"), default="32",
                        help=PAGING_HELP)
    parser.add_argument("--tlb-shootdown", choices=("on", "off"),
                        default="on", help=SHOOTDOWN_HELP)


PROGRAM_HELP = ("a program to start, as pid 1, 2, ... in order: a .s or "
                ".asm file (Intel-syntax assembly, '#' comments), a .c "
                "file, an ELF executable, a flat .bin binary, or the bare "
                "name of a program under userland/ (e.g. family)")
QUANTUM_HELP = ("preempt every N guest instructions (reproducible); 0, the "
                "default, is off: slices end on a host timer")


def add_run_options(run):
    run.add_argument("programs", nargs="+", metavar="PROGRAM",
                     help=PROGRAM_HELP)
    add_paging_option(run)
    run.add_argument("--program", action="append", default=[],
                     metavar="PATH", help="make a program spawnable by name "
                     "(its file name without extension) without starting "
                     "it; repeatable")
    run.add_argument("--report", metavar="FILE",
                     help="write a JSON report of the run to FILE ('-': "
                     "stdout): each process's end (status, fault), the "
                     "machine's statistics, how the run ended")
    run.add_argument("--memory", type=parse_size, default=DEFAULT_MEMORY,
                     metavar="SIZE", help="physical memory: bytes, or with "
                     "a K, M or G suffix (8M to 1G, a multiple of 4M; "
                     "default 128M)")
    run.add_argument("--quantum", type=int, default=0, metavar="N",
                     help=QUANTUM_HELP)
    run.add_argument("--cpus", type=int, default=1, metavar="N",
                     help="emulated CPUs sharing one physical memory (1-8)")
    run.add_argument("--seed", type=int, default=None, metavar="S",
                     help="slice lengths drawn from a PRNG seeded by S "
                          "(reproducible interleavings)")
    add_schedule_options(run)
    run.add_argument("--check", action="store_const", const=True,
                     help="run the invariant checker after every syscall "
                          "and fault, on what each changed")
    run.add_argument("--check=full", dest="check", action="store_const",
                     const="full", help="the same, recounting everything "
                     "each time (slow)")
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
    run.add_argument("--legend", action="store_true",
                     help="after the run, explain the notation of --maps, "
                     "the text trace and the page-table dumps: flags, "
                     "frame runs, how an address splits into table "
                     "indices (stderr)")
    limits.add_options(run)
    strace_cli.add_options(run)
    trace_cli.add_options(run)
    gdb_cli.add_options(run)
    lastwrites_cli.add_options(run)
    html_cli.add_options(run)


def add_schedule_options(p):
    """--schedule, --depth and --steps, as `run` and `race` take them."""
    p.add_argument("--schedule", choices=racefind.SCHEDULES, default=None,
                   help="how a seed schedules the processes: 'random' "
                   "slice lengths (the default), or 'pct': random "
                   "priorities, the highest-priority process runs, and "
                   "depth-1 random change points lower the running one "
                   "(finds bugs needing few preemptions at precise points)")
    p.add_argument("--depth", type=int, default=None, metavar="D",
                   help="pct: the bug depth searched for (D-1 change "
                   "points; default 2)")
    p.add_argument("--steps", type=int, default=None, metavar="K",
                   help="pct: change points fall on guest instructions "
                   "1..K, K the run's expected length (run: default "
                   "100000; race: measured by one run)")


def add_race_parser(sub):
    race = sub.add_parser("race", help="run under many seeds and group the "
                                       "outcomes (a race finder)")
    race.add_argument("programs", nargs="+", metavar="PROGRAM",
                      help="programs to boot, as for `run`")
    race.add_argument("--program", action="append", default=[],
                      help="make a program spawnable by name")
    race.add_argument("--seeds", default="0..49", metavar="A..B",
                      help="the seeds to try: A..B, or a list 1,5,9")
    race.add_argument("--cpus", type=int, default=2, metavar="N",
                      help="emulated CPUs (1-8, default 2)")
    race.add_argument("--quantum", type=int, default=0, metavar="N",
                      help="random: mean slice length; pct: instructions "
                      "between looks for a higher priority (default 1000)")
    race.add_argument("--memory", type=parse_size, default=DEFAULT_MEMORY,
                      help="physical memory of each run (default 128M)")
    race.add_argument("--ignore-output", action="store_true",
                      help="compare only exit statuses, shared memory "
                      "(and races)")
    add_paging_option(race)
    add_schedule_options(race)
    race.add_argument("--jobs", type=int, default=cluster.default_jobs(),
                      metavar="N", help="worker processes running seeds "
                      "in parallel (default: every core; with --dask, the "
                      "local cluster's workers); the outcome is the same "
                      "as with --jobs 1")
    race.add_argument("--dask", action="store_true",
                      help="run the seeds on a Dask cluster started here "
                      "(--jobs worker processes); same outcome")
    race.add_argument("--scheduler", metavar="ADDRESS",
                      help="run the seeds on the existing Dask cluster whose "
                      "scheduler listens at ADDRESS, e.g. tcp://HOST:8786; "
                      "same outcome")
    race.add_argument("--races", action="store_true",
                      help="run the data-race detector under each schedule "
                      "and group seeds by the races found too")
    strace_cli.add_options(race, " (race: of each distinct outcome's "
                           "first seed, run again after the search)")
    race.add_argument("--stop-on-first", action="store_true",
                      help="stop at the first seed whose outcome differs "
                      "from the first seed's (with --races: the first that "
                      "reports a race)")


def check_schedule_options(args):
    """--schedule pct needs a seed on `run`, a depth >= 1, steps >= 1;
    --depth and --steps mean nothing without it."""
    if args.schedule != "pct":
        if args.depth is not None or args.steps is not None:
            raise UsageError("--depth and --steps need --schedule pct")
        return
    if getattr(args, "seed", 0) is None:
        raise UsageError("--schedule pct needs --seed S")
    if args.depth is None:
        args.depth = 2
    if args.depth < 1:
        raise UsageError("--depth must be at least 1")
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be at least 1")


def schedule_policy(args):
    """The scheduler policy `run` asked for (None: the FIFO one)."""
    if args.schedule != "pct":
        return None
    from kernel.sched.pct import DEFAULT_STEPS, PctPolicy
    return PctPolicy(args.seed, args.depth, args.steps or DEFAULT_STEPS,
                     args.quantum, args.cpus)


def check_machine_options(args):
    """--quantum and --cpus, as `run`, `trace` and `race` all take them."""
    if args.quantum < 0:
        raise UsageError(f"--quantum {args.quantum}: must be 0 (off) or "
                         "more")
    if not 1 <= args.cpus <= 8:
        raise UsageError(f"--cpus {args.cpus}: must be 1 to 8")


def cmd_run(args):
    page_path = check_run_options(args)
    programs = _programs(args)
    args.programs = [str(programs.find(p)) for p in args.programs]
    boot = [programs.add(p) for p in args.programs]
    line = gdb_cli.timeline(args, lambda console: _machine(
        args, programs, console, boot))
    policy = limits.policy(schedule_policy(args), args)
    k = _machine(args, programs, line.console() if line else None,
                 policy=policy)
    writes = lastwrites_cli.attach(k, args, lambda console: _machine(
        args, programs, console, boot))
    race_replay_cli.attach(k, args, lambda: _machine(
        argparse.Namespace(**{**vars(args), "races": False, "check": None}),
        programs, Console(io.BytesIO(), io.BytesIO()), boot))
    if args.maps:
        k.attach(MapsPrinter(k.console))
    page = html_cli.attach(k, page_path, boot)
    tracer = trace_cli.attach(k, args, [page.record] if page else ())
    strace = strace_cli.attach(k, args)
    stopper = limits.Limits(k, args.timeout, policy)
    k.boot(boot)
    try:
        with stopper:
            k, dbg = gdb_cli.run(k, args, line)
    except EndRun as e:
        print(f"ia32k: run ended: {e}", file=sys.stderr)
        gdb_cli.finish(None, 1, line)
        return 1
    if stopper.reason:
        stopper.print_where()
    trace_cli.finish(tracer)
    strace_cli.finish(strace)
    html_cli.finish(page, page_path)
    status = finish_run(k, args, stopper, writes)
    gdb_cli.finish(dbg, status, line)
    return status


def check_run_options(args):
    """Every check that can fail before the run, output paths included;
    returns the --html path."""
    check_machine_options(args)
    check_schedule_options(args)
    page_path = html_cli.check_output(args, UsageError)
    lastwrites_cli.check(args, UsageError)
    gdb_cli.check(args, UsageError)
    strace_cli.check(args, UsageError)
    for option in ("report", "trace"):
        outputs.check(f"--{option}", getattr(args, option), UsageError)
    return page_path


def finish_run(k, args, stopper, writes=None):
    """The end-of-run texts and the report; returns the exit status."""
    sys.stdout.flush()
    if args.ipcs:
        print(ipcs_text(k.shm), end="", file=sys.stderr)
    if args.legend:
        print(legend(k.vm.mode), end="", file=sys.stderr)
    report = build_report(k)
    stopper.report(report)
    lastwrites_cli.finish(writes, args, report)
    if args.report:
        f = outputs.open_text(args.report)
        json.dump(report, f, indent=1)
        outputs.close(f)
    status = 0 if all(p["status"] == 0 for p in report["processes"]) else 1
    return limits.EXIT_STATUS.get(stopper.reason, status)


def _machine(args, programs, console=None, boot=None, policy=None):
    """A kernel as `run` asked for (booted with boot's programs, if
    given); policy: the scheduler policy (default: the one args name)."""
    k = new_kernel(programs, memory=args.memory, quantum=args.quantum,
                   cpus=args.cpus, seed=args.seed, check=args.check,
                   policy=policy or schedule_policy(args), console=console,
                   races=getattr(args, "races", False), paging=args.paging,
                   tlb_shootdown=args.tlb_shootdown == "on")
    if boot is not None:
        k.boot(boot)
    return k


def cmd_race(args):
    try:
        seeds = racefind.parse_seeds(args.seeds)
    except ValueError:
        raise UsageError(f"--seeds {args.seeds}: expected A..B") from None
    if not seeds:
        raise UsageError(f"--seeds {args.seeds}: no seeds")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    strace_cli.check(args, UsageError)
    check_machine_options(args)
    check_schedule_options(args)
    programs = _programs(args)
    boot = [programs.add(p) for p in args.programs]
    scenario = racefind.Scenario(
        programs, boot, args.programs, args.program, args.cpus,
        args.quantum, args.memory, args.schedule or "random",
        args.depth or 2, args.steps or 0, args.races, args.paging,
        args.tlb_shootdown == "on")
    if scenario.schedule == "pct" and not scenario.steps:
        scenario.steps = racefind.calibrate_steps(scenario, seeds[0])
    ex = cluster.executor(args.jobs, True, args.scheduler, scenario) \
        if args.dask or args.scheduler else None
    try:
        search = racefind.find_races(scenario, seeds, args.jobs,
                                     args.ignore_output, args.stop_on_first,
                                     ex)
    finally:
        if ex is not None:
            ex.close()
    print(racefind.format_search(search, scenario, len(seeds)), flush=True)
    strace_cli.race_traces(args, scenario, search)
    found_race = args.races and any(o.first.races for o in search.outcomes)
    return 0 if len(search.outcomes) == 1 and not found_race else 1


def _programs(args):
    programs = Programs(on_error=lambda m: print(f"ia32k: {m}",
                                                 file=sys.stderr))
    for p in args.program:
        programs.add(p)
    return programs


def version():
    """The installed package's version, else pyproject.toml's."""
    from importlib import metadata
    try:
        return metadata.version("ia32k")
    except metadata.PackageNotFoundError:
        import tomllib
        from tools import ROOT
        with open(ROOT / "pyproject.toml", "rb") as f:
            return tomllib.load(f)["project"]["version"]


def main(argv=None):
    try:
        args = make_parser().parse_args(argv)
        if args.cmd == "test":
            return test_cli.cmd_test(args, UsageError)
        return {"run": cmd_run, "trace": cmd_run,
                "race": cmd_race}[args.cmd](args)
    except (UsageError, BuildError) as e:
        print(f"ia32k: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"ia32k: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ia32k: interrupted", file=sys.stderr)
        return limits.EXIT_STATUS["interrupt"]
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
