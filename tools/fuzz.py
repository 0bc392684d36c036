"""Reliability campaigns (`make fuzz`): random guest programs run beside a
canary, with the invariant checker on, and every syscall result checked
against the errors ABI.md allows for that call.

A random program is a straight line of instructions drawn from loads,
stores, arithmetic, atomics, forward jumps, privileged and I/O
instructions, software interrupts and system calls with wild arguments;
jumps only go forward, so every program ends. The canary fills its private
memory with a known pattern, yields while the others run, and exits 0 only
if every byte is still as it left it.
"""

import io
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from kernel import syscall as sc
from kernel.kernel import Console, Kernel
from kernel.loader import flat_image
from kernel.syscall import Errno, Sys
from tools.asm import assemble_source

E = Errno
ALLOWED = {
    Sys.EXIT: (), Sys.WRITE: (E.EBADF, E.EFAULT), Sys.GETPID: (),
    Sys.YIELD: (), Sys.SPAWN: (E.ENOENT, E.EFAULT, E.EAGAIN, E.ENOMEM),
    Sys.WAIT: (E.ECHILD, E.EFAULT), Sys.GETUID: (), Sys.SETUID: (E.EPERM,),
    Sys.FORK: (E.EAGAIN, E.ENOMEM),
    Sys.SHM_CREATE: (E.EEXIST, E.EINVAL, E.ENOSPC, E.ENOMEM),
    Sys.SHM_LOOKUP: (E.ENOENT,),
    Sys.SHM_ATTACH: (E.EINVAL, E.EIDRM, E.EACCES, E.ENOMEM),
    Sys.SHM_DETACH: (E.EINVAL,), Sys.SHM_DESTROY: (E.EPERM, E.EINVAL, E.EIDRM),
    Sys.SHM_STAT: (E.EFAULT, E.EINVAL),
    Sys.SEND: (E.EINVAL, E.ESRCH, E.EFAULT), Sys.RECV: (E.EFAULT,),
    Sys.FUTEX_WAIT: (E.EAGAIN, E.EINVAL, E.EFAULT),
    Sys.FUTEX_WAKE: (E.EINVAL, E.EFAULT),
}
REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi")   # ebp: the data base
WILD = (0, 1, 0xFFFFFFFF, 0x1000, 0xFFF, 0x00400000, 0x00400FFC, 0x40000000,
        0xBFFFF000, 0xBFFFFFFC, 0xC0000000, 0xFFFFF000, 4096, 4097,
        64 << 20, (64 << 20) + 1, 0x7FFFFFFF, 0x80000000)
PRIVILEGED = ("cli", "hlt", "in al, dx", "out dx, al", "mov cr3, eax",
              "invlpg [eax]", "lgdt [eax]", "int3", "int 0x0e", "int 0x21",
              "ud2", "rdmsr", "wrmsr", "insb", "outsb", "sti", "into")

CANARY = """
    lea edi, [pattern]
    mov ecx, 1024
    mov eax, 0xC0FFEE00
fill:
    mov [edi], eax
    add edi, 4
    inc eax
    dec ecx
    jnz fill
    mov esi, 40
spin:
    mov eax, SYS_YIELD
    int 0x80
    push esi
    dec esi
    jnz spin
    mov esi, 1
unwind:
    pop eax
    cmp eax, esi
    jne bad
    inc esi
    cmp esi, 41
    jne unwind
    lea edi, [pattern]
    mov ecx, 1024
    mov eax, 0xC0FFEE00
check:
    cmp [edi], eax
    jne bad
    add edi, 4
    inc eax
    dec ecx
    jnz check
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
bad:
    mov eax, SYS_EXIT
    mov ebx, 1
    int 0x80
.align 4
pattern: .zero 4096
"""


# mov imm, store, load, arith, xadd, xchg, jmp, privileged, syscall x3, push
WEIGHTS = (10, 10, 10, 10, 4, 4, 5, 1, 6, 6, 6, 5)


def _imm(rng):
    return rng.choice(WILD) if rng.random() < 0.7 else rng.getrandbits(32)


def _instruction(rng, i):
    """One random instruction (or a short group) as assembly text."""
    r, s = rng.choice(REGS), rng.choice(REGS)
    kind = rng.choices(range(12), WEIGHTS)[0]
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
    num = rng.choice(list(Sys) + [99, 0xFFFFFFFF]) if rng.random() < 0.95 \
        else Sys.EXIT
    if num == Sys.EXIT and rng.random() < 0.7:
        num = Sys.GETPID
    args = "\n".join(f"    mov {r}, {_imm(rng):#x}"
                     for r in ("ebx", "ecx", "edx", "esi", "edi"))
    return f"{args}\n    mov eax, {int(num)}\n    int 0x80"


def random_program(rng, length=40):
    """Assembly text of one random straight-line program; EBP points at
    its own data page (most loads and stores use it, so most programs run
    on past their first instruction)."""
    lines = ["    lea ebp, [data]"]
    for i in range(length):
        lines.append(f"l{i}:")
        lines.append("    " + _instruction(rng, i))
    lines += [f"l{i}:" for i in range(length, length + 4)]
    lines += ["    mov eax, SYS_EXIT", "    xor ebx, ebx", "    int 0x80",
              ".align 4096", "data: .zero 4160"]
    return "\n".join(lines)


@dataclass
class Campaign:
    cases: int = 0
    boots: int = 0
    checks: int = 0
    violations: list = field(default_factory=list)
    results: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)

    def summary(self):
        errors = sorted(k for k in self.results if k[1] < 0)
        return (f"cases {self.cases} (in {self.boots} boots), invariant checks "
                f"{self.checks}, distinct syscall errors {len(errors)}, "
                f"distinct exit statuses {len(self.statuses)}, "
                f"violations {len(self.violations)}")


class _Recorder:
    """Wraps the syscall table to check every result against ALLOWED."""

    def __init__(self, campaign):
        self.c = campaign
        self.saved = dict(sc.SYSCALLS)

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
            r = fn(k, p, *args)
            if isinstance(r, int) and -4095 <= r < 0:
                self.c.results[(num, r)] += 1
                if r not in allowed:
                    self.c.violations.append(
                        f"call {Sys(num).name} returned {r}, not allowed")
            return r
        return recorded


class _Images(dict):
    pass


def run_boot(rng, campaign, programs_per_boot=8, cpus=1):
    """One boot: a canary and programs_per_boot random programs."""
    images = _Images(canary=flat_image("canary", assemble_source(CANARY)))
    for i in range(programs_per_boot):
        images[f"rnd{i}"] = flat_image(f"rnd{i}", assemble_source(
            random_program(rng)))
    k = Kernel(images, check=True, cpus=cpus, seed=rng.randrange(1 << 30),
               quantum=rng.choice((50, 500, 5000)),
               console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["canary"] + [f"rnd{i}" for i in range(programs_per_boot)])
    try:
        k.run()
    except Exception as e:  # noqa: BLE001 - a finding, reported
        campaign.violations.append(f"{type(e).__name__}: {e}")
        return
    campaign.boots += 1
    campaign.cases += programs_per_boot
    campaign.checks += k.checker.checks
    canary = k.procs.get(1)
    if canary.status != 0:
        campaign.violations.append(f"canary ended with {canary.status}")
    if k.stats.frames_free_at_end != k.stats.frames_free_at_boot:
        campaign.violations.append("frames leaked")
    for p in k.procs:
        campaign.statuses[p.status] += 1


def fuzz(seed=0, cases=None, seconds=None, cpus=1):
    """Run a campaign until cases programs or seconds have been spent."""
    rng, c = random.Random(seed), Campaign()
    t0 = time.monotonic()
    with _Recorder(c):
        while (cases is None or c.cases < cases) and \
                (seconds is None or time.monotonic() - t0 < seconds):
            run_boot(rng, c, cpus=cpus)
    return c


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="ia32k-fuzz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    args = ap.parse_args(argv)
    if args.cases is None and args.seconds is None:
        args.seconds = 60
    c = fuzz(args.seed, args.cases, args.seconds)
    print(c.summary())
    for v in c.violations[:20]:
        print("  violation:", v)
    return 1 if c.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
