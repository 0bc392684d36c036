"""System-call sequence fuzzing by real guest processes.

A case is, for each of 2-3 processes, a list of calls (number and five
arguments, drawn around the boundaries: 0, -1, page edges, the ends of the
stack and of user space, sizes near 0 and 64 MiB, ids of live, destroyed and
never-made segments). Each list becomes an assembly program that makes the
calls in order with a yield after each, so the processes interleave. A
"reaper" boot process (uid 0) spawns them, waits for all, then destroys
every segment id that could exist, so a correct kernel ends with as many
free frames as it booted with.

An argument is an int, or one of the symbols "buf" (a writable buffer in
the program's data), "name" (the string "leaf"), or "last" (the address
of the program's last successful shm_attach). Two pseudo-calls touch that
address: TOUCH_R reads a word there, TOUCH_W writes one.
"""

import io
from dataclasses import dataclass

from kernel.kernel import Console, Kernel
from tools.observe.boot import new_kernel
from kernel.syscall import Sys
from tools.toolchain.programs import Images
from tools.fuzz.campaign import Campaign, _Recorder

TOUCH_R, TOUCH_W = "touch_r", "touch_w"
ARG_REGS = ("ebx", "ecx", "edx", "esi", "edi")
MB = 1 << 20

LEAF = """
    mov ebx, eax
    mov eax, SYS_EXIT
    int 0x80
"""

REAPER_HEAD = """
    mov esi, {nprocs}
    lea edi, [names]
spawn:
    mov eax, SYS_SPAWN
    mov ebx, edi
    mov ecx, 3
    xor edx, edx
    int 0x80
    add edi, 3
    dec esi
    jnz spawn
reap:
    mov eax, SYS_WAIT
    mov ebx, -1
    xor ecx, ecx
    int 0x80
    cmp eax, 0xFFFFF000
    jbe reap
    mov esi, 1
destroy:
    cmp esi, {last_id}
    ja done
    mov eax, SYS_SHM_DESTROY
    mov ebx, esi
    int 0x80
    inc esi
    jmp destroy
done:
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
names: .ascii "{names}"
"""


@dataclass
class Outcome:
    """What one case did: the kernel after the run, and the recorder's
    findings (violations: errors docs/abi.md does not allow)."""
    kernel: Kernel
    campaign: Campaign
    error: Exception = None


def _load(reg, arg):
    if arg in ("buf", "name"):
        return f"    lea {reg}, [{arg}]"
    if arg == "last":
        return f"    mov {reg}, dword ptr [last]"
    return f"    mov {reg}, {arg & 0xFFFFFFFF:#x}"


def _touch(i, write):
    """Read or write the word at the last attachment, if there is one."""
    op = "mov dword ptr [eax], eax" if write else "mov ecx, dword ptr [eax]"
    return ["    mov eax, dword ptr [last]", "    cmp eax, 0x1000",
            f"    jb t{i}", "    cmp eax, 0xC0000000", f"    jae t{i}",
            "    " + op, f"t{i}:"]


def _call(i, num, args):
    """One call, its result kept in [last] when it was a good attach."""
    if num in (TOUCH_R, TOUCH_W):
        return _touch(i, num == TOUCH_W)
    lines = [_load(r, a) for r, a in zip(ARG_REGS, args)]
    lines += [f"    mov eax, {int(num) & 0xFFFFFFFF:#x}", "    int 0x80"]
    if num == Sys.SHM_ATTACH:
        lines += ["    cmp eax, 0xFFFFF000", f"    ja a{i}",
                  "    mov dword ptr [last], eax", f"a{i}:"]
    return lines


def program(calls):
    """Assembly text making calls in order, a yield after each, then exit 0."""
    lines = []
    for i, (num, args) in enumerate(calls):
        lines += _call(i, num, args)
        lines += ["    mov eax, SYS_YIELD", "    int 0x80"]
    lines += ["    mov eax, SYS_EXIT", "    xor ebx, ebx", "    int 0x80",
              ".align 4", "last: .long 0", "name: .ascii \"leaf\"",
              ".align 4", "buf: .zero 64"]
    return "\n".join(lines)


def reaper(nprocs, last_id):
    """The boot process: spawn fz0..fz{n-1}, reap them, destroy ids 1..last_id."""
    names = "".join(f"fz{i}" for i in range(nprocs))
    return REAPER_HEAD.format(nprocs=nprocs, last_id=max(last_id, 0),
                              names=names)


def images(sequences):
    """The flat images of one case: reaper, leaf, and one per sequence."""
    creates = sum(1 for seq in sequences for num, _ in seq
                  if num == Sys.SHM_CREATE)
    sources = {"reaper": reaper(len(sequences), creates), "leaf": LEAF}
    sources.update((f"fz{i}", program(seq))
                   for i, seq in enumerate(sequences))
    return Images.assembled(sources)


def run_case(sequences, cpus=1, seed=0, quantum=1000, memory=128 * MB):
    """Run one case with the invariant checker on and every syscall error
    checked against tools.fuzz.ALLOWED; never raises for a kernel failure,
    it comes back in Outcome.error."""
    c = Campaign()
    k = new_kernel(images(sequences), memory=memory, check=True, cpus=cpus,
                   seed=seed, quantum=quantum,
                   console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["reaper"])
    with _Recorder(c):
        try:
            k.run()
        except Exception as e:  # noqa: BLE001 - a finding, reported
            return Outcome(k, c, e)
    return Outcome(k, c)
