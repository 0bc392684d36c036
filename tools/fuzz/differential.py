"""Differential boots: one boot run twice, in two modes that docs/abi.md
says a program cannot tell apart; any difference in what it can observe is
a violation, reported with both sides.

What a program observes (Observed): every process's exit status, what
each wrote to stdout and stderr, its fault report (vector, faulting
address, error code, eip), the segments left at the end (shm_stat's
fields) and the free frames at the end against those at boot. Pairs:
- replay: the same boot again (same seed, same counted slices);
- check: the invariant checker on and off;
- races: the race detector on and off;
- debugger: a debugger attached with nothing set, and none;
- paging: --paging 32 and pae, for the canary and one program of the boot
  that attaches no shared memory (no no-execute or large-page rule can
  apply; the error code's instruction-fetch bit, which only PAE with
  no-execute reports, is left out);
- cpus: 1 CPU and 2, for the canary and one program of the boot that
  never forks (they share nothing).
"""

import hashlib
import io
import random
from dataclasses import dataclass, field, replace

from kernel.kernel import Console
from kernel.mm.hugetlb import SHM_HUGETLB
from kernel.syscall import Sys
from tools.debug.stops import Resume
from tools.debug.target import Debugger
from tools.observe.boot import new_kernel

PAIRS = ("replay", "check", "races", "debugger", "paging", "cpus")
DIFF_SHARE = 0.1            # of boots, run once more in a paired mode
PF_FETCH = 0x10             # the page-fault error code's I/D bit
SECRET = bytes(range(1, 17))
FORKS = ("mov eax, 0x8\n", "SYS_FORK")    # a program that may fork


@dataclass
class Observed:
    """What the programs of one run could observe."""
    statuses: list = field(default_factory=list)
    output: dict = field(default_factory=dict)     # (pid, fd) -> Outputs.seen
    faults: dict = field(default_factory=dict)     # pid -> report fields
    segments: list = field(default_factory=list)
    frames: int = 0                 # free at the end - free at boot
    error: str = ""                 # the run raised this
    large: bool = False             # a program asked for large pages

    def differences(self, other):
        """[(what, ours, theirs)] where the two runs differ."""
        return [(f, getattr(self, f), getattr(other, f))
                for f in ("statuses", "output", "faults", "segments",
                          "frames", "error")
                if getattr(self, f) != getattr(other, f)]


class Outputs:
    """Kernel observer: each process's writes, per file descriptor, kept
    as a length, a SHA-256 and the first HEAD bytes (a run may write
    gigabytes; two runs agree when all three do)."""

    HEAD = 64

    def __init__(self):
        self.by = {}
        self.large = False          # an shm_create asked for SHM_HUGETLB

    def on_syscall(self, t, num, args, result):
        if num == Sys.SHM_CREATE and args[2] & SHM_HUGETLB:
            self.large = True

    def on_output(self, p, fd, data):
        key = (p.pid if p else 0, fd)
        got = self.by.get(key)
        if got is None:
            got = self.by[key] = [0, hashlib.sha256(), b""]
        got[0] += len(data)
        got[1].update(data)
        if len(got[2]) < self.HEAD:
            got[2] += bytes(data[:self.HEAD - len(got[2])])

    def seen(self):
        """(pid, fd) -> (bytes written, their SHA-256, their head)."""
        return {k: (n, h.hexdigest(), head)
                for k, (n, h, head) in self.by.items()}


class Idle:
    """A debugger client with nothing set: it only lets the machine go."""

    def on_stop(self, stop):
        return Resume()

    def on_exit(self, status):
        pass


@dataclass(frozen=True)
class Variant:
    """One side of a pair: the options a spec is run with."""
    cpus: int
    paging: str = "32"
    check: int = 0
    races: bool = False
    debugger: bool = False


def observe(spec, v, watchdog, secret_va):
    """Run spec (tools/fuzz/campaign.py's Spec) as variant v, the canary
    holding SECRET at secret_va; what its programs could observe. The
    context manager watchdog bounds the run."""
    k = new_kernel(spec.images, check=v.check, cpus=v.cpus,
                   seed=spec.boot_seed, quantum=spec.quantum,
                   console=Console(io.BytesIO(), io.BytesIO()),
                   paging=v.paging, races=v.races)
    outs = Outputs()
    k.attach(outs)
    spec.images.sealed = False
    procs = k.boot(["canary"] + spec.names())
    spec.images.sealed = True
    procs[0].aspace.copyout(secret_va, SECRET)
    if v.debugger:
        dbg = Debugger(k)
        dbg.client = Idle()
        dbg.first_stop()
    o = Observed()
    try:
        with watchdog:
            k.run()
    except Exception as e:  # noqa: BLE001 - compared, not raised
        o.error = f"{type(e).__name__}: {e}"
        return o
    o.large = outs.large
    o.statuses = [(p.pid, p.name, p.status) for p in k.procs]
    o.output = outs.seen()
    o.faults = {p.pid: _fault(p.fault) for p in k.procs if p.fault}
    o.segments = sorted((s.key, s.size, s.mode, len(s.attachments),
                         s.destroyed) for s in k.shm.segments.values())
    o.frames = k.stats.frames_free_at_end - k.stats.frames_free_at_boot
    return o


def _fault(f):
    code = f.get("error_code")
    return (f.get("vector"), f.get("eip"), f.get("cr2"),
            None if code is None else code & ~PF_FETCH)


def alone(spec, pair):
    """The name of the first program of spec that may run beside the
    canary alone in pair ("paging": it attaches no shared memory; "cpus":
    it never forks), or None."""
    if pair == "paging" and spec.mode.seams:
        return None
    bad = ("SHM",) if pair == "paging" else FORKS
    return next((n for n in dict.fromkeys(spec.names())
                 if not any(b in spec.texts[n] for b in bad)), None)


def pairs_for(spec):
    """The pairs that apply to spec's programs."""
    return ["replay", "check", "races", "debugger"] + \
        [p for p in ("paging", "cpus") if alone(spec, p) is not None]


def variants(spec, pair):
    """The two Variants (and the spec each runs) of pair for spec."""
    base = Variant(spec.cpus, spec.mode.paging, 0, spec.mode.races)
    if pair == "replay":
        return (spec, base), (spec, base)
    if pair == "check":
        return (spec, base), (spec, replace(base, check=1))
    if pair == "races":
        return (spec, replace(base, races=False)), \
            (spec, replace(base, races=True))
    if pair == "debugger":
        return (spec, base), (spec, replace(base, debugger=True))
    one = replace(spec, starts=[alone(spec, pair)])
    if pair == "paging":
        return (one, replace(base, paging="32")), \
            (one, replace(base, paging="pae"))
    return (one, replace(base, cpus=1)), (one, replace(base, cpus=2))


def compare(spec, pair, watchdog, secret_va):
    """Run spec both ways of pair (watchdog() bounds each run); [violation
    text] (empty when they agree, or when a run was stopped by the
    watchdog), each with both sides' values."""
    (sa, va), (sb, vb) = variants(spec, pair)
    a = observe(sa, va, watchdog(), secret_va)
    b = observe(sb, vb, watchdog(), secret_va)
    if a.error.startswith("Hang") or b.error.startswith("Hang"):
        return []               # a watchdog measures the host, not the ABI
    if pair == "paging" and (a.large or b.large):
        return []               # large pages are 4 MiB or 2 MiB by mode
    return [f"differential {pair}: {what} differ: {_short(x)} "
            f"({_side(va)}) vs {_short(y)} ({_side(vb)})"
            for what, x, y in a.differences(b)]


def draw_pair(spec):
    """The pair a boot is run in, drawn from its seed (so a replay of the
    boot draws it again)."""
    return random.Random(spec.boot_seed ^ 0xD1FF).choice(pairs_for(spec))


def _side(v):
    return ", ".join(f"{k}={getattr(v, k)}" for k in
                     ("cpus", "paging", "check", "races", "debugger"))


def _short(value, limit=600):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
