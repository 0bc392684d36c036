"""Scheduling: reproducible interleavings, several CPUs, migration."""

import pytest

COUNTER = """
    mov edi, eax            # spawn argument: which letter to print
    add edi, 0x41
    mov [letter], edi
    mov esi, 40
top:
    mov ecx, 300            # some work between prints
spin:
    dec ecx
    jnz spin
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [letter]
    mov edx, 1
    int 0x80
    dec esi
    jnz top
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
letter: .long 0
"""
PARENT = """
    mov esi, 3
    mov edi, 1
again:
    mov eax, SYS_SPAWN
    lea ebx, [name]
    mov ecx, 7
    mov edx, edi
    int 0x80
    inc edi
    dec esi
    jnz again
    mov esi, 3
reap:
    mov eax, SYS_WAIT
    mov ebx, -1
    xor ecx, ecx
    int 0x80
    dec esi
    jnz reap
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
name: .ascii "counter"
"""


def run(run_sources, **kw):
    return run_sources({"parent.s": PARENT, "counter.s": COUNTER},
                       boot_names=["parent"], **kw)


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_same_seed_same_interleaving(run_sources, cpus):
    a = run(run_sources, cpus=cpus, seed=7, quantum=200)
    b = run(run_sources, cpus=cpus, seed=7, quantum=200)
    assert a.stdout == b.stdout
    assert a.report == b.report
    assert sorted(a.stdout) == sorted("BCD" * 40)


def test_different_seeds_explore_different_interleavings(run_sources):
    outs = {run(run_sources, cpus=2, seed=s, quantum=200).stdout
            for s in range(4)}
    assert len(outs) > 1


def test_quantum_alone_is_reproducible(run_sources):
    a = run(run_sources, quantum=500)
    b = run(run_sources, quantum=500)
    assert a.stdout == b.stdout and a.report == b.report


def test_instruction_count_does_not_depend_on_cpus(run_sources):
    counts = {run(run_sources, cpus=c, seed=3).stats["instructions"]
              for c in (1, 2, 3)}
    assert len(counts) == 1


def test_processes_migrate_and_every_cpu_works(run_sources):
    r = run(run_sources, cpus=2, seed=11, quantum=100)
    cpus = r.report["cpus"]
    assert len(cpus) == 2
    assert all(c["instructions"] > 0 for c in cpus)
    ran_on_both = set(cpus[0]["processes_run"]) & set(cpus[1]["processes_run"])
    assert ran_on_both, "no process ran on both CPUs"
    assert r.statuses == [0, 0, 0, 0]
    assert sum(c["instructions"] for c in cpus) == r.stats["instructions"]


def test_default_mode_with_two_cpus_finishes(run_sources):
    r = run(run_sources, cpus=2)
    assert r.statuses == [0, 0, 0, 0]
    assert r.stats["instructions"] is None
