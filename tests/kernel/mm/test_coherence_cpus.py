"""Code written into shared memory by one process and run by another, on
two CPUs (kernel/mm/coherence.py): after every rewrite the reader's next call
runs the new bytes, whichever CPUs the two run on, under several seeds and
both paging modes. Without the coherence rule the same runs go wrong
(Unicorn CPUs keep code they translated before another CPU's store)."""

import pytest

from kernel.mm.coherence import CodeCoherence

ROUNDS = 150
PROGRAM = r"""
#include "ia32k.h"
/* arg 0 writes `mov eax, imm32 ; ret` into page 1 of a segment, ROUNDS
 * times with a new immediate, and waits for arg 1 to call it and report
 * (page 0: word 0 = round written, word 1 = round seen). arg 1 exits 1 on
 * the first call that returns an old immediate. */
#define ROUNDS %d
static u32 value(u32 i) { return i * 0x01010101u ^ 0x5A5Au; }

int main(int arg)
{
    if (arg == 0) {
        int id = shm_create(0xC0DE, 8192, 0600);
        CHECK(id > 0);
        volatile u32 *m = shm_attach(id, 0, 0);
        volatile unsigned char *code = (volatile unsigned char *)m + 4096;
        int status = -1, pid = spawn("coherent", 1);
        for (u32 i = 1; i <= ROUNDS; i++) {
            code[0] = 0xB8;
            *(volatile u32 *)(code + 1) = value(i);
            code[5] = 0xC3;
            m[0] = i;
            while (m[1] != i && m[1] != 0xDEAD)
                yield();
            CHECK(m[1] == i);
        }
        CHECK_EQ(wait(pid, &status), pid);
        CHECK_EQ(status, 0);
        return 0;
    }
    int id;
    while ((id = shm_lookup(0xC0DE)) < 0)
        yield();
    volatile u32 *m = shm_attach(id, 0, 2);          /* SHM_EXEC */
    u32 (*fn)(void) = (u32 (*)(void))((char *)m + 4096);
    for (u32 i = 1; i <= ROUNDS; i++) {
        while (m[0] != i)
            yield();
        if (fn() != value(i)) {
            m[1] = 0xDEAD;
            return 1;
        }
        m[1] = i;
    }
    return 0;
}
""" % ROUNDS


def run(run_sources, seed, paging):
    return run_sources({"coherent.c": PROGRAM}, ["coherent"], cpus=2,
                       seed=seed, quantum=300, paging=paging, check=False)


@pytest.mark.parametrize("paging", ["32", "pae"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rewritten_shared_code_is_seen_on_every_cpu(run_sources, seed,
                                                    paging):
    r = run(run_sources, seed, paging)
    assert r.statuses == [0, 0], r.stderr
    ran = [set(c["processes_run"]) for c in r.report["cpus"]]
    assert all(ran) and set().union(*ran) == {1, 2}   # both CPUs worked
    assert r.kernel.sched.coherence.flushes > 0


def test_without_the_rule_a_cpu_runs_stale_code(run_sources, monkeypatch):
    monkeypatch.setattr(CodeCoherence, "before_slice", lambda *a: None)
    bad = [run(run_sources, seed, "32").statuses for seed in (1, 2, 3)]
    assert any(s != [0, 0] for s in bad), bad
