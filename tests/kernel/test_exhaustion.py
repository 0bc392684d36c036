"""Exhaustion beside what test_syscalls/test_shm cover
already (nproc.c: the table full of zombies; shm_limits_test.c: 256
segments then -ENOSPC, the quota's -ENOMEM; shm_oom_test.c: page tables
and a demand-zero touch running out at 8 MiB):

- the process table full of LIVE processes (a chain, each blocked in wait
  on the next): spawn says -EAGAIN;
- memory full of processes at 8 MiB (program text is shared, so at 16 MiB
  the table would fill first): spawn says -ENOMEM, nothing leaks;
- shared pages touched while processes hold every other frame: the toucher
  is killed cleanly (270, out of memory), everyone else carries on;
- -ENOSPC counts destroyed-but-attached segments, and segments of every
  process (one table); a detach makes room again.

A bystander keeps its memory and exits 0 in each; afterwards the free
frames equal those at boot. The invariant checker runs after every
event."""

import io

import pytest

from tests.conftest import Run
from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.observe.check import Checker
from kernel.proc.process import NPROC
from tools.observe.report import build_report
from tools.toolchain.programs import Programs

MB = 1 << 20
FULL, DONE = 0x5E1F, 0x5E1D      # keys of the two signal segments

# A chain of processes, each blocked in wait on the next, until spawn
# fails. No stack is touched, so a member needs its directory, one page
# table and its own copy of the image page holding `status` (wait's
# copy-out breaks it copy-on-write); the other image pages are shared. The root (arg 0) creates segment FULL; the
# deepest member destroys it (the signal: table or memory is full), holds
# the chain until segment DONE is gone, and exits with spawn's error, which
# every member passes up to the root.
CHAIN = """
    mov esi, eax
    test esi, esi
    jnz spawn
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x5e1f
    mov ecx, 4096
    mov edx, 0x1a4
    int 0x80
spawn:
    mov eax, SYS_SPAWN
    lea ebx, [name]
    mov ecx, 8
    lea edx, [esi + 1]
    int 0x80
    cmp eax, 0xFFFFF000
    ja deepest
    mov ebx, eax
    lea ecx, [status]
    mov eax, SYS_WAIT
    int 0x80
    mov ebx, [status]
    mov eax, SYS_EXIT
    int 0x80
deepest:
    mov edi, eax
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x5e1f
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_DESTROY
    int 0x80
hold:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x5e1d
    int 0x80
    cmp eax, -2
    jne hold
    mov ebx, edi
    mov eax, SYS_EXIT
    int 0x80
.align 4
status: .long 0
name: .ascii "ex_chain"
.align 4096
fat: .zero 8192
"""

# Fills a page with a pattern and touches its stack, then yields until
# segment FULL has come and gone and DONE is gone, and exits 0 only if the
# page and the stack still hold what it left there.
BYSTANDER = """
    lea edi, [pattern]
    mov ecx, 1024
    mov eax, 0x5eed0000
fill:
    mov [edi], eax
    add edi, 4
    inc eax
    dec ecx
    jnz fill
    push 0x600d
up:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x5e1f
    int 0x80
    cmp eax, -2
    je up
down:
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x5e1f
    int 0x80
    cmp eax, -2
    jne down
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x5e1d
    int 0x80
    cmp eax, -2
    jne down
    lea edi, [pattern]
    mov ecx, 1024
    mov eax, 0x5eed0000
check:
    cmp [edi], eax
    jne bad
    add edi, 4
    inc eax
    dec ecx
    jnz check
    pop eax
    cmp eax, 0x600d
    jne bad
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
bad:
    mov ebx, 1
    mov eax, SYS_EXIT
    int 0x80
.align 4096
pattern: .zero 4096
"""

# The boss (arg 0) creates DONE, spawns the toucher and waits for it, then
# destroys every segment and DONE. The toucher reserves shared memory up to
# the quota (1 MiB segments, attached, no frame taken yet), waits until the
# chain has filled memory, then touches its pages one by one.
TOUCH = r"""
#include "ia32k.h"
#define FULL 0x5e1f
#define DONE 0x5e1d
#define SEG (1u << 20)

static char *addrs[64];

static int toucher(void)
{
    int n = 0, id;
    while (n < 64 && (id = shm_create(0, SEG, 0600)) > 0) {
        addrs[n] = shm_attach(id, 0, 0);
        CHECK(!is_err((int)addrs[n]));
        n++;
    }
    CHECK_EQ(id, -ENOMEM);                 /* the quota ended it */
    while (shm_lookup(FULL) < 0)
        yield();
    while (shm_lookup(FULL) > 0)
        yield();
    for (int i = 0; i < n; i++)
        for (u32 off = 0; off < SEG; off += 4096)
            addrs[i][off] = 1;             /* 270 once no frame is left */
    return 1;                              /* memory never ran out */
}

int main(int arg)
{
    if (arg)
        return toucher();
    int done = shm_create(DONE, 4096, 0644);
    int pid = spawn("ex_touch", 1);
    int st = -1;
    CHECK_EQ(wait(pid, &st), pid);
    for (int id = 1; id < 100; id++)
        if (id != done)
            shm_destroy(id);
    CHECK_EQ(shm_destroy(done), 0);
    return st;
}
"""


def run_exhausted(tmp_path, sources, names, memory, **kw):
    """Boot sources (name -> text) on memory bytes, checked after every
    event."""
    progs = Programs()
    for fname, text in sources.items():
        (tmp_path / fname).write_text(text)
        progs.add(tmp_path / fname)
    out, err = io.BytesIO(), io.BytesIO()
    k = new_kernel(progs, memory=memory, console=Console(out, err), check=True,
                   **kw)
    k.boot(names)
    k.run()
    checker = k.observer(Checker)
    assert checker.checks > checker.events > 1000
    return Run(k, build_report(k), out.getvalue().decode("latin-1"),
               err.getvalue().decode("latin-1"))


def balanced(r):
    assert r.report["segments"] == []
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


def chain_run(tmp_path, memory, **kw):
    return run_exhausted(tmp_path, {"ex_chain.s": CHAIN,
                                    "ex_bystander.s": BYSTANDER},
                         ["ex_bystander", "ex_chain"], memory, **kw)


def test_table_full_of_live_processes_is_eagain(tmp_path):
    r = chain_run(tmp_path, 128 * MB)
    assert r.statuses[:2] == [0, -11], r.stderr     # bystander, chain root
    assert len(r.report["processes"]) == NPROC      # every slot was taken
    assert set(r.statuses[2:]) == {-11}             # passed up the chain
    balanced(r)


@pytest.mark.parametrize("cpus", [1, 2])
def test_memory_full_of_processes_is_enomem(tmp_path, cpus):
    r = chain_run(tmp_path, 8 * MB, cpus=cpus, seed=1, quantum=1000)
    assert r.statuses[:2] == [0, -12], r.stderr
    assert 300 < len(r.report["processes"]) < NPROC  # memory ran out first
    assert r.stderr == ""                           # nobody was killed
    balanced(r)


@pytest.mark.parametrize("cpus", [1, 2])
def test_touching_shared_pages_with_memory_full_kills_cleanly(tmp_path, cpus):
    r = run_exhausted(tmp_path, {"ex_chain.s": CHAIN,
                                 "ex_bystander.s": BYSTANDER,
                                 "ex_touch.c": TOUCH},
                      ["ex_bystander", "ex_touch", "ex_chain"], 8 * MB,
                      cpus=cpus, seed=1, quantum=1000)
    toucher = [p for p in r.report["processes"]
               if p["name"] == "ex_touch" and p["pid"] != 2]
    assert [p["status"] for p in toucher] == [270], r.stderr
    assert toucher[0]["fault"]["error_code"] == 6   # user write, not present
    assert f"pid {toucher[0]['pid']} (ex_touch): out of memory" in r.stderr
    assert r.statuses[:3] == [0, 270, -12]          # boss passes 270 on
    balanced(r)


NOSPC = r"""
#include "ia32k.h"

int main(int arg)
{
    int r, st;
    if (arg) {                     /* its segments outlive it */
        for (int i = 0; i < 128; i++)
            CHECK(shm_create(0, 4096, 0600) > 0);
        return 0;
    }
    int pid = spawn("ex_nospc", 1);
    CHECK_EQ(wait(pid, &st), pid);
    CHECK_EQ(st, 0);
    int first = shm_create(0, 4096, 0600), last = first;
    char *p = shm_attach(first, 0, 0);
    p[0] = 1;
    while ((r = shm_create(0, 4096, 0600)) > 0)
        last = r;
    CHECK_EQ(r, -ENOSPC);
    CHECK_EQ(last, 256);           /* one table for every process */
    CHECK_EQ(shm_destroy(first), 0);
    CHECK_EQ(shm_create(0, 4096, 0600), -ENOSPC);   /* still attached */
    CHECK_EQ((int)shm_attach(first, 0, 0), -EIDRM);
    CHECK_EQ(shm_detach(p), 0);    /* the last detach frees its slot */
    int again = shm_create(0, 4096, 0600);
    CHECK_EQ(again, last + 1);
    CHECK_EQ(shm_create(0, 4096, 0600), -ENOSPC);
    for (int id = 1; id <= again; id++)
        CHECK_EQ(shm_destroy(id), id == first ? -EINVAL : 0);
    return 0;
}
"""


def test_enospc_counts_every_process_and_destroyed_but_attached(run_sources):
    r = run_sources({"ex_nospc.c": NOSPC})
    assert r.statuses == [0, 0], r.stderr
    balanced(r)
