"""Futex keys (kernel/ipc/msg.py, docs/abi.md): a word in a shared memory
attachment is keyed by its physical word, any other word by (process,
virtual address), so frames shared copy-on-write or as program text never
join two processes' futexes."""

import io

import pytest

from emu.walk import READ
from kernel.kernel import Console
from kernel.proc.process import ProcState
from tests.conftest import boot
from tools.observe.boot import new_kernel
from tools.toolchain.asm import assemble_source
from tools.toolchain.programs import Programs

DEADLOCK = -35
LONG = 10**6                     # counted slices: each runs until it blocks

# pid 1 sleeps on a word of its image; pid 2 (the same program, sharing the
# image's frames through the text cache) wakes that word: it exits with the
# number it woke.
IMAGE_WORD = """
    mov eax, SYS_GETPID
    int 0x80
    cmp eax, 1
    jne waker
    mov eax, SYS_FUTEX_WAIT; lea ebx, [word]; mov ecx, 0
    int 0x80
    mov eax, SYS_EXIT; mov ebx, 0
    int 0x80
waker:
    mov eax, SYS_FUTEX_WAKE; lea ebx, [word]; mov ecx, 0xFFFFFFFF
    int 0x80
    mov ebx, eax
    mov eax, SYS_EXIT
    int 0x80
    .zero 3000
    .align 4
word: .long 0
"""


def test_two_processes_of_one_program_never_meet_on_an_image_word(tmp_path):
    src = tmp_path / "twins.s"
    src.write_text(IMAGE_WORD)
    progs = Programs()
    progs.add(src)
    k = new_kernel(progs, console=Console(io.BytesIO(), io.BytesIO()),
                   check=True, quantum=LONG)
    p1, p2 = k.boot(["twins", "twins"])
    while p1.state is not ProcState.BLOCKED:
        assert k.sched._turn()
    word = 0x00400000 + len(assemble_source(IMAGE_WORD)) - 4
    assert p2.aspace.translate(word, READ) == p1.aspace.walk(word).pa
    k.run()
    assert (p1.status, p2.status) == (DEADLOCK, 0)   # p2 woke no one


# Parent and child meet on a word of a shm segment attached at different
# addresses: the child wakes until it has woken the parent.
SHM_WORD = """
    cmp eax, 0
    jne child
    mov eax, SYS_SHM_CREATE; mov ebx, 0x5154; mov ecx, 4096; mov edx, 0x180
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH; mov ecx, 0x40000000; mov edx, 0
    int 0x80
    mov edi, eax
    mov eax, SYS_SPAWN; lea ebx, [name]; mov ecx, 4; mov edx, 1
    int 0x80
    mov eax, SYS_FUTEX_WAIT; lea ebx, [edi+8]; mov ecx, 0
    int 0x80
    mov ebx, eax
    mov eax, SYS_EXIT
    int 0x80
child:
    mov eax, SYS_SHM_LOOKUP; mov ebx, 0x5154
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH; mov ecx, 0x60000000; mov edx, 0
    int 0x80
    mov edi, eax
again:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_FUTEX_WAKE; lea ebx, [edi+8]; mov ecx, 1
    int 0x80
    cmp eax, 1
    jne again
    mov eax, SYS_EXIT; mov ebx, 0
    int 0x80
name: .ascii "shmw"
"""


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_a_shm_word_joins_processes_at_different_addresses(run_sources,
                                                          paging):
    r = run_sources({"shmw.s": SHM_WORD}, paging=paging)
    assert r.statuses == [0, 0], r.stderr
    assert r.report["ipc"]["futex_wakeups"] == 1


# After fork, parent and child share the stack page copy-on-write (nobody
# writes it): the child sleeps on a stack word, the parent wakes that word
# and exits with the number it woke.
FORK_WORD = """
    mov dword ptr [0xBFFFFF00], 0
    mov eax, SYS_FORK
    int 0x80
    cmp eax, 0
    jne parent
    mov eax, SYS_FUTEX_WAIT; mov ebx, 0xBFFFFF00; mov ecx, 0
    int 0x80
    mov eax, SYS_EXIT; mov ebx, 0
    int 0x80
parent:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_FUTEX_WAKE; mov ebx, 0xBFFFFF00; mov ecx, 0xFFFFFFFF
    int 0x80
    mov ebx, eax
    mov eax, SYS_EXIT
    int 0x80
"""


def test_fork_parent_and_child_on_a_private_cow_page_never_meet(run_sources):
    r = run_sources({"forkw.s": FORK_WORD}, quantum=LONG)
    assert r.status(1) == 0                  # the parent woke no one
    assert r.status(2) == DEADLOCK
    assert r.report["stats"]["cow_faults"] == 0    # the page stayed shared
