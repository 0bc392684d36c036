"""Every earlier userland test also passes on two CPUs: each program (or
group of programs booted together by an earlier test) ends with the same
statuses and faults with --cpus 2 --seed 1 --quantum 1000 as on one CPU,
with the invariant checker on, and leaks no frame it did not leak there.

The one-CPU baseline runs without the checker: the earlier tests already
run it with the checker on."""

import pytest

from tests.conftest import boot
from tests.kernel.ipc.test_shm import BYSTANDER
from tools.toolchain.programs import Programs, userland_programs

MB = 1 << 20
# Booted together by earlier tests (a program alone would not check itself).
GROUPS = [("regs", "spinner"), ("allints", "spinner"), ("tlb", "tlb", "tlb"),
          ("waits", "entry"), ("entry", "waits", "entry", "entry")]
PARTNERED = {"regs", "allints"}
# Run by test_shm with a bystander on 8 MiB (below); alone it would touch
# 96 MiB with a full check after every fault.
SPECIAL = {"shm_oom_test"}
# Run by test_fork with a 16-slot table or at 4 MiB: alone fork_fill would
# fork 1023 children with a full check after every call, and fork_cow_oom
# would not run out of memory.
SPECIAL |= {"fork_fill", "fork_cow_oom"}
# 16384 faults with a full check after each take minutes; statuses only.
UNCHECKED = {"shm_64mib_test"}


def singles():
    progs = userland_programs()
    return sorted(n for n, p in progs.items()
                  if p.parent.name in ("tests", "demo")
                  and n not in PARTNERED | SPECIAL)


def outcome(r):
    return [(p["name"], p["status"], (p["fault"] or {}).get("vector"))
            for p in r.report["processes"]]


def leaked(r):
    return r.stats["frames_free_at_boot"] - r.stats["frames_free_at_end"]


def compare(programs, names, **kw):
    check = not set(names) & UNCHECKED
    one = boot(programs(), names, check=False, **kw)
    two = boot(programs(), names, check=check, cpus=2, seed=1, quantum=1000,
               **kw)
    assert outcome(two) == outcome(one), two.stderr
    assert leaked(two) == leaked(one)
    assert len(two.report["cpus"]) == 2
    return two


@pytest.mark.parametrize("names", [(n,) for n in singles()] + GROUPS,
                         ids="+".join)
def test_same_statuses_on_two_cpus(names):
    compare(Programs, list(names))


def test_physical_memory_exhaustion_on_two_cpus(tmp_path):
    (tmp_path / "bystander.s").write_text(BYSTANDER)

    def programs():
        p = Programs()
        p.add(tmp_path / "bystander.s")
        return p
    two = compare(programs, ["shm_oom_test", "bystander"], memory=8 * MB)
    assert [p["status"] for p in two.report["processes"]] == [0, 0, 270, 0]
    assert leaked(two) == 0
