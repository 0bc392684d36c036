"""`make bench`'s figures for going back in time under the debugger (a
deterministic run, --seed): the latency of a backward step and of a
backward continue to a watchpoint whose write happened about INSNS
instructions earlier, both at the end of a run of that length, and what
being ready to go back costs a run that never does (the slice record, on
vs off). Every journey back rebuilds the machine from boot and replays it,
so both latencies grow with the run's length; there are no checkpoints,
so no host memory is held for them. The debugger's client is a script
(gdb's own time is not counted). gdb_journeys measures the same under the
real gdb, with or without checkpoints (--checkpoint-every)."""

import argparse
import io
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kernel.kernel import Console, Kernel
from kernel.proc.loader import flat_image
from tools.cli.gdb_opts import drive
from tools.debug.stops import EndRun, Reason, Resume, WatchKind
from tools.debug.target import Debugger
from tools.debug.timeline import Timeline
from tools.toolchain.asm import assemble_source
from tools.toolchain.programs import Images

INSNS = 10_000_000
SEED = 1
WORD = 0xBFFFE000
# write the watched word once, then compute; stop at `done`
PROGRAM = """
    mov edi, {word}
    mov dword ptr [edi], 1
    mov esi, {iters}
top:
    add eax, ecx
    dec esi
    jnz top
done:
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
"""


def booter(insns):
    src = PROGRAM.format(word=WORD, iters=max(1, insns // 3))
    code = assemble_source(src)
    done = 0x400000 + len(assemble_source(src[:src.index("done:")]))
    images = Images({"b": flat_image("b", code)})

    def boot(console=None):
        k = Kernel(images, seed=SEED, console=console or Console(
            io.BytesIO(), io.BytesIO()))
        k.boot(["b"])
        return k
    return boot, done


class Script:
    """At `done`: one backward step, then a backward continue to the
    watchpoint; times each."""

    def __init__(self, done):
        self.done, self.times, self.t = done, {}, None

    def retarget(self, dbg):
        self.dbg = dbg

    def on_stop(self, stop):
        now = time.perf_counter()
        if stop.reason is Reason.START:
            self.dbg.add_breakpoint(self.done)
            return Resume()
        if stop.reason is Reason.BREAKPOINT:
            self.t = now
            return Resume(step_pid=stop.pid, backward=True)
        if stop.reason is Reason.STEP:
            self.times["reverse_stepi_s"] = now - self.t
            self.dbg.add_watchpoint(stop.pid, WORD, 4, WatchKind.WRITE)
            self.t = time.perf_counter()
            return Resume(backward=True)
        self.times["reverse_continue_s"] = now - self.t
        self.times["watch_hit_count"] = self.dbg.k.hw.instructions
        return Resume(kill=True)

    def on_exit(self, status):
        pass


def journeys(insns):
    """(reverse-stepi seconds, reverse-continue seconds, instructions back
    to the watched write) at the end of a run of about insns."""
    boot, done = booter(insns)
    line = Timeline(lambda console: boot(console))
    k = line.machine()
    dbg = Debugger(k, line)
    dbg.client = script = Script(done)
    script.dbg = dbg
    try:
        drive(k, dbg, line)
    except EndRun:
        pass
    return script.times


def run_seconds(insns, ready):
    """A --gdb --seed run of insns to the end, the client continuing at
    once; ready: with the slice record that going back needs."""
    boot, _ = booter(insns)
    k = boot()
    dbg = Debugger(k, Timeline(boot) if ready else None)
    dbg.client = Continue()
    dbg.first_stop()
    t = time.perf_counter()
    k.run()
    return time.perf_counter() - t


class Continue:
    def on_stop(self, stop):
        return Resume()

    def on_exit(self, status):
        pass


def bench_reverse(insns=INSNS, repeat=3):
    f = dict(journeys(insns))
    f["instructions"] = insns
    off = min(run_seconds(insns, False) for _ in range(repeat))
    on = min(run_seconds(insns, True) for _ in range(repeat))
    f["ready_vs_not_ratio"] = off / on
    return f


# -- under the real gdb, with checkpoints ------------------------------------
TWO_LOOPS = """
    mov edi, {word}
    mov dword ptr [edi], 1
    mov esi, {first}
top:
    add eax, ecx
    dec esi
    jnz top
    mov dword ptr [edi], 3
    mov esi, {second}
top2:
    add eax, ecx
    dec esi
    jnz top2
done:
    mov dword ptr [edi], 2
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
"""
FIGURE = re.compile(r"^(\w+)_s ([\d.]+)$", re.M)


def gdb_journeys(insns, back, every, journeys=True):
    """Under gdb, a --seed run of about insns instructions whose watched
    word was last written `back` instructions before its end: seconds to
    run forward to the end, to reverse-stepi there and to reverse-continue
    to the write; and the checkpoints' host memory (MiB). every: the
    checkpoint interval (0: none). journeys False: the forward run only."""
    src = TWO_LOOPS.format(word=WORD, first=max(1, (insns - back) // 3),
                           second=max(1, back // 3))
    done = 0x400000 + len(assemble_source(src[:src.index("done:")]))
    with tempfile.TemporaryDirectory() as tmp:
        prog = Path(tmp) / "journeys.s"
        prog.write_text(src)
        extra = ["--checkpoint-every", str(every)] if every else []
        back_in_time = [
            *_timed("reverse_stepi", "reverse-stepi"), "delete",
            f"watch *(int*){WORD:#x}",
            *_timed("reverse_continue", "reverse-continue"),
            "monitor checkpoints"] if journeys else []
        out = _gdb_session(prog, extra, [
            f"break *{done:#x}", *_timed("forward", "continue"),
            *back_in_time, "kill"])
    f = {name: float(v) for name, v in FIGURE.findall(out)}
    mem = re.search(r"host memory of their own: ([\d.]+) MiB", out)
    f["checkpoint_mib"] = float(mem.group(1)) if mem else 0.0
    return f


def _timed(name, command):
    return ["python t = time.time()", command,
            f"python print('{name}_s %.4f' % (time.time() - t))"]


def _gdb_session(prog, extra, commands):
    """Run prog under `ia32k run --gdb 0 --seed 1` and the real gdb (batch
    mode) with commands; gdb's output."""
    run = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "run", "--gdb", "0", "--seed",
         str(SEED), *extra, str(prog)], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        port = re.search(r"127\.0\.0\.1:(\d+)", run.stderr.readline())[1]
        args = ["gdb", "-nx", "-q", "-batch", "-ex", "set architecture i386",
                "-ex", f"target remote :{port}", "-ex", "python import time"]
        for c in commands:
            args += ["-ex", c]
        r = subprocess.run(args, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=3600)
        return r.stdout + r.stderr   # monitor output comes on stderr
    finally:
        run.kill()
        run.wait()


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m tools.bench.reverse", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("instructions", type=int, nargs="?", default=INSNS,
                    help=f"length of the run in guest instructions "
                         f"(default {INSNS})")
    for key, value in bench_reverse(ap.parse_args(argv).instructions,
                                    1).items():
        print(f"{key:24} {value:14.4f}")


if __name__ == "__main__":
    main()
