"""Guest stores into private code seen on every CPU (kernel/mm/coherence.py):
a lone process on two CPUs moves to the other CPU at each yield, so code
one CPU translated is rewritten on the other and run again on the first.
Each program exits 0 when every call ran the bytes last stored, or with
the round that ran old code. Without the rule the same boots go wrong."""

import pytest

from kernel.mm import coherence
from kernel.mm.vm import AddressSpace

ROUNDS = 20
# f: mov al, N ; ret - on a page of its own, written by the program itself
F_PAGE = """
    .align 4096
f:  .byte 0xb0, 0x01, 0xc3
    .align 4096
"""
YIELD = """
    mov eax, SYS_YIELD
    int 0x80
"""
EXIT = """
    mov eax, SYS_EXIT
    int 0x80
"""

# Round i: call f (translated where it runs) and check it returns i, yield
# (to the other CPU), store i + 1 there, yield (back to the first).
REWRITE = """
    mov byte ptr [f+1], 1         # f's page becomes a private copy
    mov esi, 1
again:
    call f
    movzx eax, al
    cmp eax, esi
    jne old
""" + YIELD + """
    inc esi
    mov eax, esi
    mov byte ptr [f+1], al
""" + YIELD + f"""
    cmp esi, {ROUNDS}
    jbe again
    xor ebx, ebx
""" + EXIT + """
old:
    mov ebx, esi
""" + EXIT + F_PAGE

# The parent makes f private, runs it and forks; the child runs it on
# both CPUs and exits; the parent's store then reuses f's frame in place
# (copy-on-write with no sharer left), and it calls f on both CPUs.
FORK = """
    mov byte ptr [f+1], 1
    call f
    mov eax, SYS_FORK
    int 0x80
    test eax, eax
    jz child
    mov ebx, eax
    lea ecx, [status]
    mov eax, SYS_WAIT
    int 0x80
    mov byte ptr [f+1], 2         # the frame is reused, not copied
    mov esi, 1
again:
    call f
    cmp al, 2
    jne old
""" + YIELD + f"""
    inc esi
    cmp esi, {ROUNDS}
    jbe again
    xor ebx, ebx
""" + EXIT + """
child:
    mov esi, 4
crun:
    call f
    cmp al, 1
    jne old
""" + YIELD + """
    dec esi
    jnz crun
    xor ebx, ebx
""" + EXIT + """
old:
    mov ebx, 100
    add ebx, esi
""" + EXIT + """
status: .long 0
""" + F_PAGE

SEEDS = [1, 2, 3]


def run(run_sources, name, source, cpus, seed, paging, check):
    r = run_sources({f"{name}.s": source}, cpus=cpus, seed=seed,
                    paging=paging, check=check)
    return r, [p["status"] for p in r.report["processes"]]


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("paging", ["32", "pae"])
@pytest.mark.parametrize("cpus, seed", [(1, None), (2, 1), (2, 2), (2, 3)])
def test_private_code_rewritten_on_another_cpu_is_seen(
        run_sources, cpus, seed, paging, check):
    r, statuses = run(run_sources, "rewrite", REWRITE, cpus, seed, paging,
                      check)
    assert statuses == [0], r.stderr
    if cpus == 2:
        ran = [set(c["processes_run"]) for c in r.report["cpus"]]
        assert all(ran)                        # it did move between CPUs
        assert r.kernel.sched.coherence.removals > 0


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("paging", ["32", "pae"])
@pytest.mark.parametrize("cpus, seed", [(1, None), (2, 1), (2, 2), (2, 3)])
def test_code_in_a_frame_reused_after_fork_is_seen(
        run_sources, cpus, seed, paging, check):
    r, statuses = run(run_sources, "forked", FORK, cpus, seed, paging, check)
    assert statuses == [0, 0], r.stderr
    assert r.kernel.vm.stats["cow_faults"] > r.kernel.vm.stats["cow_copies"]


def test_without_the_rule_a_cpu_runs_old_private_code(run_sources,
                                                      monkeypatch):
    monkeypatch.setattr(coherence, "drop_written_code", lambda *a: 0)
    bad = [run(run_sources, "rewrite", REWRITE, 2, seed, "32", False)[1]
           for seed in SEEDS]
    assert any(s != [0] for s in bad), bad


def test_without_the_reuse_report_a_cpu_runs_old_code(run_sources,
                                                      monkeypatch):
    """With neither the migration rule nor break_cow's report of a reused
    frame, the parent runs code its child translated."""
    monkeypatch.setattr(coherence, "drop_written_code", lambda *a: 0)
    real = AddressSpace.break_cow

    def unreported(self, va):
        report, self.vm.on_code_written = self.vm.on_code_written, \
            lambda *a: None
        try:
            return real(self, va)
        finally:
            self.vm.on_code_written = report
    monkeypatch.setattr(AddressSpace, "break_cow", unreported)
    bad = [run(run_sources, "forked", FORK, 2, seed, "32", False)[1]
           for seed in SEEDS]
    assert any(s != [0, 0] for s in bad), bad
