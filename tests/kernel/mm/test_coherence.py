"""Instruction fetch is coherent with kernel writes (docs/abi.md
finding 4): after recv, wait or shm_stat writes new instructions over code
a process has already run, the next call runs the new bytes, on one CPU or
two. Each program exits with what its function returned after the write."""

import pytest

from emu.machine import Cpu
from tools.bench.ipc_harness import boot_shared

# f: mov al, 1 ; ret ; nop - four bytes a kernel copy-out replaces with
# mov al, N ; ret ; nop (0x90C3NNB0 as a little-endian u32).
FUNC = """
f:  .byte 0xb0, 0x01, 0xc3, 0x90
    .align 16
"""
CALL_F = """
    xor eax, eax
    call f
"""
EXIT_F = CALL_F + """
    movzx ebx, al                 # exit with what f returns now
    mov eax, SYS_EXIT
    int 0x80
"""

RECV = CALL_F + """
    mov eax, SYS_RECV
    lea ebx, [f]
    mov ecx, 4
    xor edx, edx
    int 0x80
""" + EXIT_F + FUNC

SEND = """
    mov eax, SYS_SEND
    mov ebx, 1
    lea ecx, [code]
    mov edx, 4
    int 0x80
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
code: .byte 0xb0, 0x02, 0xc3, 0x90
"""

WAIT = CALL_F + """
    lea ebx, [name]
    mov ecx, 5
    xor edx, edx
    mov eax, SYS_SPAWN
    int 0x80
    mov ebx, eax
    lea ecx, [f]                  # the status lands on f
    mov eax, SYS_WAIT
    int 0x80
""" + EXIT_F + """
name: .ascii "child"
""" + FUNC

CHILD = """
    mov ebx, 0x90c303b0
    mov eax, SYS_EXIT
    int 0x80
"""

STAT = CALL_F + """
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x90c304b0           # the key: the first u32 shm_stat writes
    mov ecx, 4096
    mov edx, 0x180
    int 0x80
    mov esi, eax
    mov ebx, eax
    lea ecx, [f]
    mov eax, SYS_SHM_STAT
    int 0x80
    mov eax, SYS_SHM_DESTROY
    mov ebx, esi
    int 0x80
""" + EXIT_F + FUNC + ".zero 4096\n"


@pytest.mark.parametrize("cpus, seed", [(1, None), (2, 1), (2, 2), (2, 3)])
def test_kernel_writes_are_seen_by_instruction_fetch(run_sources, cpus, seed):
    r = run_sources({"recvc.s": RECV, "sendc.s": SEND, "waitc.s": WAIT,
                     "child.s": CHILD, "statc.s": STAT},
                    boot_names=["recvc", "sendc", "waitc", "statc"],
                    cpus=cpus, seed=seed)
    by = {p["name"]: p["status"] for p in r.report["processes"]}
    assert by == {"recvc": 2, "sendc": 0, "waitc": 3, "child": 0x90c303b0 - (1 << 32), "statc": 4}, r.stderr


def run_recv(run_sources, cpus, seed, paging):
    """recvc runs f, receives 4 new bytes of code over it, runs f again."""
    r = run_sources({"recvc.s": RECV, "sendc.s": SEND},
                    boot_names=["recvc", "sendc"], cpus=cpus, seed=seed,
                    paging=paging)
    return {p["name"]: p["status"] for p in r.report["processes"]}


@pytest.mark.parametrize("paging", ["32", "pae"])
@pytest.mark.parametrize("cpus, seed", [(1, None), (1, 1), (2, None),
                                        (2, 1), (2, 2)])
def test_code_a_recv_brings_runs_in_both_paging_modes(run_sources, cpus,
                                                       seed, paging):
    assert run_recv(run_sources, cpus, seed, paging) == \
        {"recvc": 2, "sendc": 0}


def dropped_pages(monkeypatch):
    """Record the page of every Cpu.remove_code call from now on."""
    calls, remove = [], Cpu.remove_code

    def spy(cpu, va, nx=False):
        calls.append(va & ~0xFFF)
        return remove(cpu, va, nx)
    monkeypatch.setattr(Cpu, "remove_code", spy)
    return calls


@pytest.mark.parametrize("paging", ["32", "pae"])
@pytest.mark.parametrize("cpus, seed", [(1, None), (2, 1)])
def test_a_recv_into_code_this_cpu_ran_drops_that_page(
        run_sources, monkeypatch, cpus, seed, paging):
    calls = dropped_pages(monkeypatch)
    assert run_recv(run_sources, cpus, seed, paging)["recvc"] == 2
    assert calls and len(set(calls)) == 1      # f's page, and only it


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_recv_into_pages_never_run_drops_nothing(monkeypatch, cpus):
    calls = dropped_pages(monkeypatch)
    r = boot_shared([("ipc_pingpong", lambda va: 20)], cpus=cpus,
                    check=True)
    assert r.statuses == [0, 0], r.stderr
    assert r.report["ipc"]["messages"] == 40 and calls == []
