"""Hostile campaigns (`make fuzz`): random guest programs, mixed with the
attacker's moves of tools/fuzz/hostile.py, run beside a canary that holds a
secret (tools/fuzz/leak.py), with the invariant checker on and every syscall
result checked against the errors docs/abi.md allows for that call.

A random program is a straight line of instructions drawn from loads,
stores, arithmetic, atomics, forward jumps, privileged and I/O
instructions, software interrupts and system calls with wild arguments;
jumps only go forward and a step guard ends any loop a stale far-return
frame makes, so every program ends. Each boot is replayable from its seed
(counted slices); a secret hit is a leak only when the replay with a new
secret hits too. --jobs runs worker processes with their own seeds.
"""

import contextlib
import io
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import accumulate

from emu.x86 import PF_U, Vector
from kernel import systable as sc
from kernel.kernel import Console, Kernel
from tools.observe.boot import new_kernel
from tools.observe.check import Checker
from kernel.proc.loader import flat_image
from kernel.syscall import Errno, Sys
from tools.fuzz import hostile as hostile_mod
from tools.fuzz import debugclient
from tools.fuzz import differential
from tools.fuzz import leak
from tools.fuzz import seams
from tools.fuzz import shrink
from tools.fuzz import watchdog
from tools.fuzz.assemble import images as fast_images
from tools.toolchain.asm import BuildError, assemble_source
from tools.toolchain.programs import Images

E = Errno
STALL_SECONDS = 2              # one system call holding every CPU that long

ALLOWED = {
    Sys.EXIT: (), Sys.WRITE: (E.EBADF, E.EFAULT), Sys.GETPID: (),
    Sys.YIELD: (), Sys.SPAWN: (E.ENOENT, E.EFAULT, E.EAGAIN, E.ENOMEM),
    Sys.WAIT: (E.ECHILD, E.EFAULT), Sys.GETUID: (), Sys.SETUID: (E.EPERM,),
    Sys.FORK: (E.EAGAIN, E.ENOMEM),
    Sys.SHM_CREATE: (E.EEXIST, E.EINVAL, E.ENOSPC, E.ENOMEM),
    Sys.SHM_LOOKUP: (E.ENOENT,),
    Sys.SHM_ATTACH: (E.EINVAL, E.EIDRM, E.EACCES, E.ENOMEM),
    Sys.SHM_DETACH: (E.EINVAL,), Sys.SHM_DESTROY: (E.EPERM, E.EINVAL, E.EIDRM),
    Sys.SHM_STAT: (E.EFAULT, E.EINVAL), Sys.MPROTECT: (E.EINVAL, E.EACCES),
    Sys.SEND: (E.EINVAL, E.ESRCH, E.EFAULT), Sys.RECV: (E.EFAULT,),
    Sys.FUTEX_WAIT: (E.EAGAIN, E.EINVAL, E.EFAULT),
    Sys.FUTEX_WAKE: (E.EINVAL, E.EFAULT),
    Sys.THREAD_CREATE: (E.EINVAL, E.EAGAIN, E.ENOMEM), Sys.THREAD_EXIT: (),
    Sys.THREAD_JOIN: (E.ESRCH, E.EDEADLK, E.EFAULT), Sys.GETTID: (),
}
REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi")   # ebp: the data base
WILD = (0, 1, 0xFFFFFFFF, 0x1000, 0xFFF, 0x00400000, 0x00400FFC, 0x40000000,
        0xBFFFF000, 0xBFFFFFFC, 0xC0000000, 0xFFFFF000, 4096, 4097,
        64 << 20, (64 << 20) + 1, 0x7FFFFFFF, 0x80000000)
PRIVILEGED = ("cli", "hlt", "in al, dx", "out dx, al", "mov cr3, eax",
              "invlpg [eax]", "lgdt [eax]", "int3", "int 0x0e", "int 0x21",
              "ud2", "rdmsr", "wrmsr", "insb", "outsb", "sti", "into")

# mov imm, store, load, arith, xadd, xchg, jmp, privileged, syscall x3, push
WEIGHTS = (10, 10, 10, 10, 4, 4, 5, 1, 6, 6, 6, 5)
KINDS, CUM_WEIGHTS = range(12), tuple(accumulate(WEIGHTS))
CALLS = tuple(list(Sys) + [99, 0xFFFFFFFF])     # what a syscall item asks


def _imm(rng):
    return rng.choice(WILD) if rng.random() < 0.7 else rng.getrandbits(32)


def _instruction(rng, i):
    """One random instruction (or a short group) as assembly text."""
    r, s = rng.choice(REGS), rng.choice(REGS)
    kind = rng.choices(KINDS, cum_weights=CUM_WEIGHTS)[0]
    if kind == 0:
        return f"mov {r}, {_imm(rng):#x}"
    base = "ebp" if rng.random() < 0.8 else s
    if kind == 1:
        return f"mov dword ptr [{base} + {rng.randrange(-64, 4096)}], {r}"
    if kind == 2:
        return f"mov {r}, dword ptr [{base} + {rng.randrange(-64, 4096)}]"
    if kind == 3:
        return f"{rng.choice(('add', 'sub', 'xor', 'and', 'or'))} {r}, {s}"
    if kind == 4:
        return f"lock xadd dword ptr [{base} + {rng.randrange(0, 4096, 4)}], {r}"
    if kind == 5:
        return f"xchg dword ptr [{base} + {rng.randrange(0, 4096, 4)}], {r}"
    if kind == 6:
        return f"jmp l{i + rng.randrange(1, 4)}"
    if kind == 7:
        return rng.choice(PRIVILEGED)
    if kind in (8, 9, 10):
        return _syscall(rng)
    return f"push {r}" if rng.random() < 0.5 else f"pop {r}"


def _syscall(rng):
    num = rng.choice(CALLS) if rng.random() < 0.95 \
        else Sys.EXIT
    if num == Sys.EXIT and rng.random() < 0.7:
        num = Sys.GETPID
    args = "\n".join(f"    mov {r}, {_imm(rng):#x}"
                     for r in ("ebx", "ecx", "edx", "esi", "edi"))
    return f"{args}\n    mov eax, {int(num):#x}\n    int 0x80"




def random_program(rng, length=40, targets=None, hostile=0.35,
                   writer=hostile_mod.Writer):
    """Assembly text of one random program: a straight line of plain random
    instructions and, with probability hostile each, attacker's moves
    (tools/fuzz/hostile.py; writer's moves). EBP points at its own data
    pages (most loads and stores use it, so most programs run on past their
    first instruction)."""
    w = writer(rng, targets or hostile_mod.Targets(),
               hostile_mod.shm_shape(rng) if hostile else None)
    w.emit("lea ebp, [data]",
           f"mov dword ptr [ebp + {hostile_mod.STEP}], -1")
    if w.shm:
        w.shm_prologue()
    for i in range(length):
        w.label(f"l{i}")
        random_item(w, rng, i, hostile)
    for i in range(length, length + 4):
        w.label(f"l{i}")
    w.label("stop")
    w.emit("lea ebp, [data]", "mov eax, SYS_EXIT", "xor ebx, ebx",
           "int 0x80")
    w.lines += w.tail()
    return "\n".join(w.lines)


def random_item(w, rng, i, hostile):
    """Item i of a program (after its label l{i}): an attacker's move with
    probability hostile, else a plain random instruction."""
    if rng.random() < hostile:
        w.move(i)
    else:
        w.lines.append("    " + _instruction(rng, i))


@dataclass
class Campaign:
    cases: int = 0
    boots: int = 0
    checks: int = 0
    seconds: float = 0.0
    chance_hits: int = 0            # secret windows not found again on replay
    paired: int = 0                 # boots also run in a differential pair
    slowest: float = 0.0            # the longest boot, in seconds
    peak_rss: int = 0               # the largest worker's peak host memory
    violations: list = field(default_factory=list)
    results: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    stall: object = STALL_SECONDS   # the stall limit of the boot under way
                                    # (None: none, as under a tracer)

    def merge(self, other):
        """Add another worker's campaign to this one."""
        for f in ("cases", "boots", "checks", "chance_hits", "paired"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.seconds = max(self.seconds, other.seconds)
        self.slowest = max(self.slowest, other.slowest)
        self.peak_rss = max(self.peak_rss, other.peak_rss)
        self.violations += other.violations
        self.results.update(other.results)
        self.statuses.update(other.statuses)

    def summary(self):
        errors = sorted(k for k in self.results if k[1] < 0)
        rate = self.cases / self.seconds if self.seconds else 0
        return (f"cases {self.cases} (in {self.boots} boots, {self.seconds:.1f} s,"
                f" {rate:.1f} programs/s), invariant checks "
                f"{self.checks}, differential pairs {self.paired}, "
                f"distinct syscall errors {len(errors)}, "
                f"distinct exit statuses {len(self.statuses)}, "
                f"chance secret hits (not confirmed by replay) "
                f"{self.chance_hits}, slowest boot {self.slowest:.2f} s, "
                f"peak host memory {self.peak_rss >> 20} MiB, "
                f"violations {len(self.violations)}")


class _Recorder:
    """Wraps the syscall table to check every result against ALLOWED, and
    that no system call comes from vm86 mode or with IOPL above 0."""

    def __init__(self, campaign):
        self.c = campaign
        self.saved = dict(sc.SYSCALLS)
        self.sink = campaign.violations

    def __enter__(self):
        for num, fn in self.saved.items():
            sc.SYSCALLS[num] = self._wrap(num, fn)
        return self

    def __exit__(self, *exc):
        sc.SYSCALLS.clear()
        sc.SYSCALLS.update(self.saved)

    def _wrap(self, num, fn):
        allowed = {-int(e) for e in ALLOWED.get(num, ())}

        def recorded(k, p, *args):
            if k.cpu is not None and k.cpu.reg("eflags") & RING3_NEVER:
                self.sink.append(f"pid {p.pid} made call {Sys(num).name} "
                                 f"with EFLAGS {k.cpu.reg('eflags'):#x} "
                                 "(vm86 or IOPL > 0)")
            t0, scanned = time.monotonic(), leak.scan_seconds()
            r = fn(k, p, *args)
            took = time.monotonic() - t0 - (leak.scan_seconds() - scanned)
            if self.c.stall is not None and took > self.c.stall:
                self.sink.append(f"call {Sys(num).name} by pid {p.pid} held "
                                 f"the machine for {took:.1f} s")
            if isinstance(r, int) and -4095 <= r < 0:
                self.c.results[(num, r)] += 1
                if r not in allowed:
                    self.sink.append(
                        f"call {Sys(num).name} returned {r}, not allowed")
            return r
        return recorded


RING3_NEVER = 0x20000 | 0x3000      # EFLAGS.VM, EFLAGS.IOPL


class Ring3Watch:
    """Kernel observer: what every process's end must look like. A page
    fault has the U bit (every access a ring-3 instruction makes is a user
    access on hardware); no process ends in vm86 mode or with IOPL > 0;
    no program reports stale code (tools.fuzz.hostile.STALE)."""

    def __init__(self, k):
        self.k, self.found = k, []

    def on_exit(self, p):
        f = p.fault or {}
        if f.get("vector") == Vector.PAGE_FAULT and \
                not (f.get("error_code") or 0) & PF_U:
            self.found.append(f"pid {p.pid} ({p.name}): page fault without "
                              f"the U bit: {f}")
        if self.k.current is p and self.k.cpu is not None and \
                self.k.cpu.reg("eflags") & RING3_NEVER:
            self.found.append(f"pid {p.pid} ({p.name}) ended with EFLAGS "
                              f"{self.k.cpu.reg('eflags'):#x} (vm86 or IOPL)")
        if p.status in hostile_mod.STALE:
            self.found.append(f"pid {p.pid} ({p.name}): "
                              f"{hostile_mod.STALE[p.status]}")


@dataclass
class Spec:
    """One boot, replayable: the same spec runs the same way every time."""
    boot_seed: int
    cpus: int
    quantum: int
    texts: dict                     # program name -> assembly text
    images: dict
    check: int = 1                  # invariant checker every Nth event
    recount: bool = False           # the full recount, not the incremental
    mode: seams.Mode = seams.Mode()
    starts: list = None             # programs started after the canary
                                    # (default: every text, once each)

    def names(self):
        return list(self.texts) if self.starts is None else self.starts

    def with_texts(self, texts):
        """This spec with programs texts (name -> assembly) added or put in
        place of those of the same names, assembled."""
        images = type(self.images)(self.images)
        images.update(fast_images(texts))
        return replace(self, texts={**self.texts, **texts}, images=images)


@dataclass
class Outcome:
    """What one run of a spec showed."""
    violations: list
    hits: list                      # (where, hits) of the secret
    statuses: list = field(default_factory=list)
    checks: int = 0
    whole: bool = False             # the whole secret appeared


class Fixed:
    """The images every boot shares (the canary, the helpers) and where
    the canary's secret lies: built once per worker."""

    def __init__(self):
        self.canary = flat_image("canary", assemble_source(hostile_mod.CANARY))
        seg = self.canary.segments[0]
        self.secret_va = seg.va + len(seg.data) - 16
        self.helpers = Images.assembled(hostile_mod.HELPERS)
        k = Kernel({"canary": self.canary}, console=Console(io.BytesIO(),
                                                            io.BytesIO()))
        p = k.boot(["canary"])[0]
        self.spread_pa = p.aspace.walk(self.secret_va - 4096).pa
        self.targets = hostile_mod.Targets(self.spread_pa)


_FIXED = None


def fixed():
    global _FIXED
    if _FIXED is None:
        _FIXED = Fixed()
    return _FIXED


class _Images(Images):
    """Programs by name; once sealed (after the boot) the canary cannot be
    spawned, so only one process ever holds the secret legitimately."""

    sealed = False

    def get(self, name, default=None):
        if self.sealed and name == "canary":
            return default
        return super().get(name, default)


def make_spec(boot_seed, cpus=1, programs_per_boot=8, hostile=0.35,
              mode=seams.Mode(), writer=None):
    """The boot of boot_seed: a seam boot (mode.seams) draws its programs
    with seams.SeamWriter (or writer), moves at least seams.HOSTILE of
    their items when there are moves at all, and starts some of them two
    or three times."""
    rng = random.Random(boot_seed)
    if mode.seams and hostile:
        hostile = max(hostile, seams.HOSTILE)
    fx = fixed()
    writer = writer or (seams.SeamWriter if mode.seams
                        else hostile_mod.Writer)
    texts = {f"rnd{i}": random_program(rng, targets=fx.targets,
                                       hostile=hostile, writer=writer)
             for i in range(programs_per_boot)}
    images = _Images(canary=fx.canary, **fx.helpers)
    images.update(fast_images(texts))
    spec = Spec(boot_seed, cpus, rng.choice((50, 500, 5000)), texts, images,
                mode=mode)
    if mode.seams:
        spec.starts = [n for n in texts for _ in range(rng.choice((1, 2, 3)))]
    if mode.races:          # slices longer than the race log
        spec.quantum = rng.choice((50000, 500000))
    return spec


def run_spec(spec, secret, plant=None):
    """Boot spec with the canary holding secret (bytes); plant(k, secret)
    may add a deliberate leak (tests of the detector only)."""
    s = leak.Secret(secret)
    out, err = leak.ScanSink(s), leak.ScanSink(s)
    k = new_kernel(spec.images, check=spec.check, recount=spec.recount,
                   cpus=spec.cpus, seed=spec.boot_seed,
                   quantum=spec.quantum, console=Console(out, err),
                   paging=spec.mode.paging, races=spec.mode.races)
    watch, ring3 = leak.LeakWatch(k, s, 1), Ring3Watch(k)
    k.attach(watch)
    k.attach(ring3)
    spec.images.sealed = False
    procs = k.boot(["canary"] + spec.names())
    spec.images.sealed = True
    procs[0].aspace.copyout(fixed().secret_va, secret)
    if plant:
        plant(k, secret)
    dbg = None if spec.mode.debug is None else \
        debugclient.attach_debugger(k, spec.mode.debug, spec.images)
    o = Outcome([], [])
    try:
        with _watchdog(HANG_SECONDS):
            k.run()
    except Exception as e:  # noqa: BLE001 - a finding, reported
        o.violations.append(f"{type(e).__name__}: {e} "
                            f"[at {shrink.location(e)}]")
        return o
    o.violations += seams.findings(k, dbg)
    checker = k.observer(Checker)
    o.checks = checker.checks if checker else 0
    o.violations += ring3.found
    canary = k.procs.get(1)
    if canary.status != 0:
        o.violations.append(f"canary ended with {canary.status}")
    # Segments outlive their creators: frames they still hold (touched
    # pages; every page of a SHM_HUGETLB segment, reserved at shm_create)
    # are not leaked.
    held = k.shm.frames_in_use()
    if k.stats.frames_free_at_end + held != k.stats.frames_free_at_boot:
        o.violations.append(f"frames leaked: {k.stats.frames_free_at_boot} "
                            f"free at boot, {k.stats.frames_free_at_end} at "
                            f"the end, {held} held by live segments")
    o.statuses = [p.status for p in k.procs]
    o.hits = [(f"pid {pid} ({name}) {where}", h)
              for pid, name, where, h in watch.found]
    o.hits += [(f"{n} output", sink.found)
               for n, sink in (("stdout", out), ("stderr", err)) if sink.found]
    o.whole = any("whole secret" in h for _, h in o.hits)
    return o


def run_boot(rng, campaign, cpus=1, plant=None, programs_per_boot=8,
             hostile=0.35, check_every=1, recount=False, maker=make_spec,
             measure=contextlib.nullcontext, seam_share=seams.SEAM_SHARE,
             diff_share=differential.DIFF_SHARE):
    """One boot: a canary and programs_per_boot hostile programs; a share
    seam_share of boots are seam boots (tools/fuzz/seams.py, on 1-3 CPUs
    when cpus is "mix"), a share diff_share of boots (drawn from the seed,
    never from the boot's time, so a --cases campaign is the same on any
    executor) is also run twice in a pair of modes that must agree
    (tools/fuzz/differential.py). A secret hit is replayed with another
    secret and is a leak only if it recurs.
    maker(boot_seed, ncpus, programs_per_boot, hostile, mode) draws the
    spec; measure() is entered while the boot runs (kernel coverage)."""
    boot_seed = rng.getrandbits(63)
    ncpus = rng.choice((1, 1, 2)) if cpus == "mix" else cpus
    mode, seam_cpus = seams.draw_mode(rng, seam_share)
    if seam_cpus and cpus == "mix":
        ncpus = seam_cpus
    record = {"boot_seed": boot_seed, "cpus": ncpus, "mode": mode,
              "hostile": hostile, "programs_per_boot": programs_per_boot}
    try:
        spec = maker(boot_seed, ncpus, programs_per_boot, hostile, mode)
    except BuildError as e:             # a fuzzer bug: say so, go on
        campaign.violations.append({**record, "where": f"boot {boot_seed}",
                                    "what": f"generator: {e}"})
        return
    ncpus, mode = spec.cpus, spec.mode     # a corpus entry's, if drawn one
    record.update(cpus=ncpus, mode=mode)
    spec.check, spec.recount = check_every, recount
    t0, rss0 = time.monotonic(), _peak_rss()
    mark = len(campaign.violations)
    # a boot traced for kernel coverage runs several times slower in the
    # kernel: its calls' time says nothing about the kernel's own cost
    campaign.stall = STALL_SECONDS if measure is contextlib.nullcontext \
        else None
    with measure():
        o = run_spec(spec, leak.new_secret(), plant)
    took, rss = time.monotonic() - t0, _peak_rss()
    campaign.slowest = max(campaign.slowest, took)
    campaign.peak_rss = max(campaign.peak_rss, rss)
    if rss > HOST_MEMORY_LIMIT >= rss0:
        o.violations.append(f"host memory peaked at {rss >> 20} MiB")
    where = f"boot {boot_seed} on {ncpus} CPU(s)" + \
        (f", --mode {mode.text()}" if mode.seams else "")
    if o.hits and not o.whole:
        again = run_spec(spec, leak.new_secret(), plant)
        if not again.hits:
            campaign.chance_hits += 1
            o.hits = []
    if rng.random() < diff_share:
        record["pair"] = differential.draw_pair(spec)
        campaign.paired += 1
        o.violations += differential.compare(
            spec, record["pair"], lambda: _watchdog(HANG_SECONDS),
            fixed().secret_va)
    o.violations += campaign.violations[mark:]     # the _Recorder's, as text
    del campaign.violations[mark:]
    for what, h in o.hits:
        o.violations.append(f"secret leaked into {what}: {h}")
    for v in o.violations:
        campaign.violations.append({**record, "where": where, "what": v,
                                    "texts": spec.texts})
    campaign.boots += 1
    campaign.cases += programs_per_boot
    campaign.checks += o.checks
    campaign.statuses.update(o.statuses)


HOST_MEMORY_LIMIT = 1536 << 20  # resident: 128 MiB guest RAM + translations


HANG_SECONDS = 60              # a boot still running then is stopped


class Hang(Exception):
    """A boot that did not end (raised by _watchdog's timer)."""


def _watchdog(seconds):
    """Raise Hang in the kernel's next hook once seconds have passed, in
    whichever thread runs the boot (tools/fuzz/watchdog.py)."""
    return watchdog.time_limit(seconds, Hang,
                               f"the boot ran for more than {seconds} s")


def _peak_rss():
    """This process's peak resident memory in bytes."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10


def fuzz(seed=0, cases=None, seconds=None, cpus=1, jobs=0, plant=None,
         **boot):
    """Run a campaign until cases programs or seconds have been spent.
    jobs > 0: that many worker processes, each with its own seeds
    (seed, seed + 1, ...), results added up. boot: run_boot's
    programs_per_boot, hostile (the share of attacker's moves) and
    check_every (run the invariant checker after every Nth syscall or
    fault; always at the end) and recount (the full recount instead of the
    incremental checker)."""
    if jobs:
        return _parallel(seed, cases, seconds, cpus, jobs, boot)
    rng, c = random.Random(seed), Campaign()
    t0 = time.monotonic()
    with _Recorder(c):
        while (cases is None or c.cases < cases) and \
                (seconds is None or time.monotonic() - t0 < seconds):
            run_boot(rng, c, cpus=cpus, plant=plant, **boot)
    c.seconds = time.monotonic() - t0
    return c


def _worker(args):
    seed, cases, seconds, cpus, boot = args
    return fuzz(seed, cases, seconds, cpus, **boot)


def _parallel(seed, cases, seconds, cpus, jobs, boot):
    import multiprocessing
    share = None if cases is None else -(-cases // jobs)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        parts = pool.map(_worker, [(seed + j, share, seconds, cpus, boot)
                                   for j in range(jobs)])
    total = Campaign()
    for part in parts:
        total.merge(part)
    return total


def replay(boot_seed, cpus, mode=seams.Mode()):
    """Rerun one boot by its seed (as a violation names it); return the
    Outcome and the programs' texts."""
    spec = make_spec(boot_seed, cpus, mode=mode)
    c = Campaign()
    with _Recorder(c):
        o = run_spec(spec, leak.new_secret())
    o.violations += c.violations
    return o, spec.texts


def minimise(record, seconds=120):
    """The smallest boot found (a Spec) that still shows the violation of
    record (a campaign violation), within seconds."""
    def recorder(found):
        c = Campaign()
        c.violations = found
        return _Recorder(c)
    run = shrink.runner(run_spec, recorder, lambda: _watchdog(HANG_SECONDS),
                        fixed().secret_va)
    return shrink.Shrinker(record, spec_maker(record), run, seconds).shrink()


def spec_maker(record):
    """make_spec for a violation's boot: its programs as kept in the record
    and started as it names (a guided boot draws them from a corpus, on a
    spec drawn as tools/fuzz/corpus.py's Drawer draws it), else drawn
    again from its seed."""
    texts = record.get("texts")

    def make(*args):
        if not record.get("guided"):
            spec = make_spec(*args)
        else:
            spec = replace(make_spec(args[0], args[1], 0, *args[3:]),
                           starts=record.get("starts"))
        return spec.with_texts(texts) if texts and texts != spec.texts \
            else spec
    return make


def parser():
    """The fuzz command's argument parser (tools/fuzz/command.py adds the
    guided and cluster options)."""
    import argparse
    ap = argparse.ArgumentParser(
        prog="ia32k-fuzz",
        description="Hostile random programs beside a canary that holds a "
        "secret; fails on any broken invariant or leaked secret.")
    ap.add_argument("--seed", type=int, default=0,
                    help="campaign seed (worker j uses seed + j)")
    ap.add_argument("--cases", type=int, default=None,
                    help="stop after this many random programs")
    ap.add_argument("--seconds", type=float, default=None,
                    help="stop after this many seconds (default 60 when "
                    "--cases is not given)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes (default 1; with --dask, the "
                    "local cluster's workers, default one per core); 0 runs "
                    "in this process")
    ap.add_argument("--cpus", default="mix", choices=("1", "2", "3", "mix"),
                    help="CPUs of each booted machine (mix: one or two, "
                    "drawn per boot; one to three for seam boots)")
    ap.add_argument("--check-every", type=int, default=1, metavar="N",
                    help="run the invariant checker after every Nth system "
                    "call or fault (1: every one; larger is faster; the end "
                    "of every boot is always checked)")
    ap.add_argument("--seam-share", type=float, default=seams.SEAM_SHARE,
                    metavar="P", help="share of boots that are seam boots "
                    "(large pages, code rewritten after yields and fork, "
                    "--races, a debugger, futexes on shared text: "
                    "tools/fuzz/seams.py); default %(default)s")
    ap.add_argument("--pair-share", type=float,
                    default=differential.DIFF_SHARE, metavar="P",
                    help="share of boots run a second time in a paired mode "
                    "that must not change what programs observe (replay, "
                    "checker, races, debugger, paging, CPUs: "
                    "tools/fuzz/differential.py); default %(default)s")
    ap.add_argument("--replay", type=int, metavar="BOOT_SEED",
                    help="rerun one boot a violation named (with --cpus 1, "
                    "2 or 3 and --mode as it names them) and print its "
                    "programs: a boot drawn from its seed alone (blind and "
                    "seam boots); a guided boot's programs came from the "
                    "corpus, so a campaign writes them out and prints the "
                    "`ia32k run` command that replays it")
    ap.add_argument("--mode", default="plain", metavar="MODE",
                    help="with --replay: the mode the violation names "
                    "(plain, or seams with any of pae, races, debug=N, "
                    "comma-separated: seam boots of tools/fuzz/seams.py)")
    ap.add_argument("--save", metavar="DIR",
                    help="shrink one violating boot of each kind of "
                    "violation to the fewest processes and instructions "
                    "that still show it, and write its programs (.s) and "
                    "the `ia32k run` command replaying it to DIR")
    ap.add_argument("--shrink-seconds", type=float, default=120, metavar="S",
                    help="time allowed for shrinking each kind of "
                    "violation (with --save; 0: save the boot as found)")
    return ap


def main(argv=None, args=None):
    """A blind campaign (every program fresh), or a replay, from the command
    line (or from args already parsed)."""
    args = args or parser().parse_args(argv)
    cpus = args.cpus if args.cpus == "mix" else int(args.cpus)
    if args.replay is not None:
        o, texts = replay(args.replay, 1 if cpus == "mix" else cpus,
                          seams.Mode.parse(args.mode))
        for name, text in texts.items():
            print(f"--- {name}\n{text}")
        print("violations:", o.violations, "secret hits:", o.hits)
        return 1 if o.violations or o.hits else 0
    if args.cases is None and args.seconds is None:
        args.seconds = 60
    c = fuzz(args.seed, args.cases, args.seconds, cpus,
             1 if args.jobs is None else args.jobs,
             check_every=args.check_every, seam_share=args.seam_share,
             diff_share=args.pair_share)
    print(c.summary())
    kinds = shrink.groups(c.violations)
    for sig, n, v in kinds[:20]:
        print(f"  violation x{n}: {sig}\n    first ({v['where']}): "
              f"{v['what']}")
    if args.save:
        _save(args.save, kinds, args.shrink_seconds)
    return 1 if c.violations else 0


def _save(directory, kinds, seconds):
    """Each kind of violation's first boot, shrunk, into directory/N."""
    from pathlib import Path
    for n, (sig, _, v) in enumerate(kinds, 1):
        spec = minimise(v, seconds) if seconds > 0 else spec_maker(v)(
            v["boot_seed"], v["cpus"], v["programs_per_boot"], v["hostile"],
            v["mode"])
        cmd = shrink.save(spec, Path(directory) / str(n), v["what"])
        print(f"  kind {n} ({sig}): {len(spec.names())} process(es); "
              f"replay: cd {Path(directory) / str(n)} && {cmd}")


if __name__ == "__main__":
    raise SystemExit(main())
