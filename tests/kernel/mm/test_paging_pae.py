"""Every earlier userland test also passes under PAE paging: each program
(or group booted together by an earlier test) ends with the same statuses
and faults with --paging pae as with --paging 32, with the invariant
checker on, and leaks no frame it did not leak there.

The 32-bit baseline runs without the checker: the earlier tests already run
it with the checker on. Both runs are seeded (as tests/test_cpus2.py's):
in the timer mode some programs' own checks depend on where a preemption
lands (futex_fifo's FIFO order does, as its header says), so two timer
runs may differ for reasons that have nothing to do with paging. Programs that fetch from a no-execute page would
differ, and none of the earlier ones does (tests/test_nx.py has those)."""

import pytest

from tests.conftest import boot
from tests.kernel.sched.test_cpus2 import GROUPS, UNCHECKED, leaked, outcome, singles
from tests.kernel.ipc.test_shm import BYSTANDER
from tools.toolchain.programs import Programs

MB = 1 << 20


def compare(programs, names, check=True, **kw):
    check = check if not set(names) & UNCHECKED else False
    flat = boot(programs(), names, check=False, **kw)
    pae = boot(programs(), names, check=check, paging="pae", **kw)
    assert outcome(pae) == outcome(flat), pae.stderr
    assert leaked(pae) == leaked(flat)
    return pae


@pytest.mark.parametrize("names", [(n,) for n in singles()] + GROUPS,
                         ids="+".join)
def test_same_statuses_under_pae(names):
    compare(Programs, list(names), seed=1, quantum=1000)


def test_physical_memory_exhaustion_under_pae(tmp_path):
    """shm_oom_test fills 8 MiB; under PAE each address space costs four
    frames more, and the outcome is still the same."""
    (tmp_path / "bystander.s").write_text(BYSTANDER)

    def programs():
        p = Programs()
        p.add(tmp_path / "bystander.s")
        return p
    pae = compare(programs, ["shm_oom_test", "bystander"], memory=8 * MB)
    assert [p["status"] for p in pae.report["processes"]] == [0, 0, 270, 0]
    assert leaked(pae) == 0

