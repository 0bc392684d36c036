"""The hostile fuzzer (tools/fuzz/campaign.py, tools/fuzz/hostile.py, tools/fuzz/leak.py):
a short campaign on both cores finds nothing, and every detector is shown
to fire: a planted leak of the canary's secret (in memory, in output, in
an exit status, by a leaking kernel), a chance hit that a replay does not
confirm, a syscall error docs/abi.md does not allow, stale code."""

import random
import struct

import pytest

from kernel.kernel import Console, Kernel
from kernel.proc.loader import flat_image
from kernel.syscall import Sys
from kernel.systable import SYSCALLS
from tools.fuzz import campaign as fuzz
from tools.fuzz import hostile
from tools.fuzz import leak
from tools.toolchain.asm import assemble_source
from tools.fuzz.campaign import ALLOWED, Campaign, _Recorder, random_program


def test_hostile_campaign_on_both_cores_finds_nothing():
    """1,200 hostile programs, half on each core, on one or two CPUs per
    boot, the checker after every call and fault."""
    c = fuzz.fuzz(seed=2026, cases=1200, cpus="mix", jobs=2)
    assert c.violations == [], c.violations[:5]
    assert c.cases >= 1200
    assert c.checks > c.boots                   # checked along the way
    assert len(c.statuses) > 5                  # the programs did differ


def test_cross_cpu_store_into_shared_code_is_seen():
    """A boot the campaign found (2 CPUs): rnd4 runs code in a segment,
    a helper on the other CPU attaches it, writes new code there and exits
    0, all in one slice; rnd4's next call runs the new code, because an
    attach during a slice counts as a writer (kernel/mm/coherence.py)."""
    o, _ = fuzz.replay(1480934995069278068, 2)
    assert o.violations == []


def test_every_move_assembles_and_runs():
    """Each kind of move, alone in a program, builds and the boot runs to
    the end (the canary untouched, no secret anywhere)."""
    for name in hostile.Writer.MOVES:
        rng = random.Random(name)
        w = hostile.Writer(rng, fuzz.fixed().targets, (4096, 3))
        w.emit("lea ebp, [data]")
        w.shm_prologue()
        for i in range(6):
            w.label(f"l{i}")
            getattr(w, name)(i)
        w.emit("mov eax, SYS_EXIT", "xor ebx, ebx", "int 0x80")
        w.lines += [".align 4096", "data: .zero 8192"]
        spec = fuzz.make_spec(1, programs_per_boot=0)
        spec.texts["m"] = "\n".join(w.lines)
        spec.images["m"] = flat_image("m", assemble_source(spec.texts["m"]))
        c = Campaign()
        with _Recorder(c):
            o = fuzz.run_spec(spec, leak.new_secret())
        assert o.violations == [] and o.hits == [], (name, o.violations)
        assert c.violations == []


THIEF = """
    mov eax, SYS_GETPID
    int 0x80
    mov [word], eax             # whatever getpid said
    cmp dword ptr [how], 1
    je out
    cmp dword ptr [how], 2
    je status
    jmp done
out:
    mov eax, SYS_WRITE          # the stolen bytes to stdout
    mov ebx, 1
    lea ecx, [loot]
    mov edx, 4
    int 0x80
    jmp done
status:
    mov ebx, [loot]             # as its exit status
    mov eax, SYS_EXIT
    int 0x80
done:
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
.align 16
how: .long 0
word: .long 0
loot: .long 0
"""


PLAIN = {"programs_per_boot": 1, "hostile": 0.0}   # beside one plain program


def _thief(how, offset=5):
    """A plant: a process that gets 4 bytes of the secret through a
    backdoor of this test (written into its memory after loading)."""
    img = flat_image("thief", assemble_source(THIEF))
    loot_va = img.segments[0].va + len(img.segments[0].data) - 4

    def plant(k, secret):
        k.programs["thief"] = img
        p = k.create_process("thief")
        p.aspace.copyout(loot_va - 8, struct.pack("<I", how))
        p.aspace.copyout(loot_va, secret[offset:offset + 4])
    return plant


@pytest.mark.parametrize("how, where", [(0, "memory"), (1, "stdout output"),
                                        (2, "status/fault")])
def test_a_planted_partial_leak_is_found(how, where):
    c = fuzz.fuzz(seed=3, cases=1, plant=_thief(how), **PLAIN)
    assert c.boots == 1
    whats = [v["what"] for v in c.violations]
    assert all("secret leaked" in w for w in whats), whats
    assert any(where in w for w in whats), whats
    assert any("thief" in w for w in whats), whats
    assert c.chance_hits == 0


def test_a_leaking_kernel_is_found(monkeypatch):
    """A kernel variant whose getpid returns 4 bytes of pid 1's memory: any
    process that keeps getpid's answer holds part of the secret."""
    def leaky_getpid(k, p, *_):
        canary = k.procs.get(1)
        if canary.aspace is None:
            return p.pid
        return struct.unpack("<I", canary.aspace.copyin(
            fuzz.fixed().secret_va + 3, 4))[0]
    monkeypatch.setitem(SYSCALLS, int(Sys.GETPID), leaky_getpid)
    c = fuzz.fuzz(seed=4, cases=1, plant=_thief(0, offset=0), **PLAIN)
    assert any("thief" in v["what"] and "memory" in v["what"]
               for v in c.violations), c.violations


def test_a_hit_the_replay_does_not_repeat_is_chance():
    """The same window once, then never again: not a leak."""
    thief, calls = _thief(0), []

    def once(k, secret):
        calls.append(1)
        thief(k, secret if len(calls) == 1 else leak.new_secret())
    c = fuzz.fuzz(seed=5, cases=1, plant=once, **PLAIN)
    assert len(calls) == 2                     # the boot, and its replay
    assert c.violations == [] and c.chance_hits == 1


def test_secret_forms():
    s = leak.Secret(bytes(range(1, 17)))
    assert len(s.windows) == 13 and 0 not in s.data
    assert s.hits(b"xx" + bytes([5, 6, 7, 8]) + b"yy") == ["05060708"]
    assert "08070605" in s.hits(b"pid 3: cr2=0x08070605", text=True)
    assert s.hits(b"pid 3: cr2=0x08070605") == []      # bytes only
    assert s.hits(bytes(range(1, 17))) == ["whole secret"]
    assert s.hits(bytes([5, 6, 7]) + bytes(4096)) == []
    assert s.value_hits([0x08070605, 7, None]) == ["0x08070605"]
    sink = leak.ScanSink(s)
    sink.write(bytes(10) + bytes([9, 10]))
    sink.write(bytes([11, 12]) + bytes(1 << 20))     # split across writes
    assert sink.found == ["090a0b0c"] and sink.length == 12 + 2 + (1 << 20)
    assert len(sink.getvalue()) == leak.ScanSink.HEAD


def test_stale_code_is_a_violation():
    """A program reporting stale code (as a guest self-check would)."""
    prog = f"mov ebx, {0x5EC0DE01:#x}\nmov eax, SYS_EXIT\nint 0x80"
    spec = fuzz.make_spec(1, programs_per_boot=0)
    spec.texts["s"] = prog
    spec.images["s"] = flat_image("s", assemble_source(prog))
    o = fuzz.run_spec(spec, leak.new_secret())
    assert o.violations == ["pid 2 (s): recv wrote code the CPU did not see"]


def test_recorder_catches_an_error_abi_does_not_allow(monkeypatch):
    import io
    monkeypatch.setitem(SYSCALLS, int(Sys.GETPID), lambda *a: -22)
    c = Campaign()
    img = flat_image("g", assemble_source(
        "mov eax, SYS_GETPID\nint 0x80\nmov eax, SYS_EXIT\nint 0x80"))
    with _Recorder(c):
        k = Kernel({"g": img}, console=Console(io.BytesIO(), io.BytesIO()))
        k.boot(["g"])
        k.run()
    assert c.violations == ["call GETPID returned -22, not allowed"]
    assert ALLOWED[Sys.GETPID] == ()


def test_programs_only_jump_forward_and_end():
    text = random_program(random.Random(1), targets=fuzz.fixed().targets)
    lines = [ln.strip() for ln in text.splitlines()]
    assert "mov eax, SYS_EXIT" in lines
    for n, ln in enumerate(lines):
        op = ln.split(" ")[0]
        if op.startswith("j") and " " in ln and ln.split()[1][0] in "lcgr":
            target = ln.split()[1] + ":"
            assert lines.index(target) > n, ln
