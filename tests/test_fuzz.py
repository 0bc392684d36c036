"""Random guest programs beside a canary, with the checker on: no Python
exception escapes the kernel, no invariant breaks, the canary's memory is
intact, every syscall error is one ABI.md allows, and no frame leaks."""

import random

from tools.fuzz import ALLOWED, Campaign, _Recorder, fuzz, random_program


def test_random_programs_hurt_only_themselves():
    c = fuzz(seed=2026, cases=1200)
    assert c.violations == []
    assert c.cases >= 1200
    assert c.checks > c.cases                  # checked after every call
    assert len(c.statuses) > 3                 # the programs did differ


def test_random_programs_on_two_cpus():
    c = fuzz(seed=7, cases=200, cpus=2)
    assert c.violations == []


def test_recorder_catches_an_error_abi_does_not_allow(monkeypatch):
    import io
    from kernel.kernel import Console, Kernel
    from kernel.loader import flat_image
    from kernel.syscall import SYSCALLS, Sys
    from tools.asm import assemble_source
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


def test_programs_are_straight_line_and_end():
    text = random_program(random.Random(1))
    assert "SYS_EXIT" in text
    jumps = [ln for ln in text.splitlines() if ln.strip().startswith("jmp")]
    for j in jumps:                            # only forward jumps
        target = int(j.split("l")[-1])
        label_line = text.splitlines().index(f"l{target}:")
        assert label_line > text.splitlines().index(j)
