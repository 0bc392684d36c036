"""TLB shootdown, booted with the checker after every call and fault: a
sibling thread running on another CPU while its process detaches a
segment, mprotects a page or forks must fault or see the new frame, never
the old one, on every seed; one call's pages go in one shootdown; CPUs
running another address space are left alone; `--tlb-shootdown off`
reports the access made through the stale translation."""

import io

import pytest

from kernel.kernel import Console
from tests.conftest import boot
from tests.kernel.proc.test_fork import balanced, boot_arg
from tools.observe.boot import new_kernel
from tools.toolchain.programs import Programs

FAULT = 256 + 14
READER_TID = 2
SEGMENT = 0x50000000
MODES = [(paging, cpus) for paging in ("32", "pae") for cpus in (2, 3)]


class Shootdowns:
    def __init__(self):
        self.seen = []

    def on_shootdown(self, cpu, targets, pid, why):
        self.seen.append((cpu.index if cpu else None, targets, pid, why))


@pytest.mark.parametrize("paging,cpus", MODES)
@pytest.mark.parametrize("seed", range(3))
def test_detach_under_a_reading_sibling_faults_it(paging, cpus, seed):
    r = boot_arg("stale", 0, paging=paging, cpus=cpus, seed=seed)
    assert r.statuses == [FAULT], r.stdout + r.stderr   # never 66
    f = r.proc(1)["fault"]
    assert (f["tid"], f["cr2"], f["error_code"]) == (READER_TID, SEGMENT, 4)
    assert "next owner's data" not in r.stdout
    assert r.stats["tlb_shootdowns"] >= 1
    assert "stale_tlb" not in r.report
    balanced(r)


@pytest.mark.parametrize("paging,cpus", MODES)
@pytest.mark.parametrize("seed", range(2))
def test_mprotect_under_a_reading_sibling_faults_it(paging, cpus, seed):
    r = boot_arg("stale", 1, paging=paging, cpus=cpus, seed=seed)
    assert r.statuses == [FAULT]
    f = r.proc(1)["fault"]
    assert (f["tid"], f["cr2"], f["error_code"]) == (READER_TID, SEGMENT, 5)
    assert r.stats["tlb_shootdowns"] >= 1


@pytest.mark.parametrize("paging", ("32", "pae"))
@pytest.mark.parametrize("seed", range(3))
def test_fork_under_a_writing_sibling_keeps_the_childs_copy(paging, seed):
    """The fork makes the writer's page copy-on-write: its CPU must not
    keep writing the frame the child now shares."""
    r = boot_arg("stale", 2, paging=paging, cpus=2, seed=seed)
    assert r.statuses == [0, 0], r.stdout
    assert "my copy stayed" in r.stdout
    assert r.stats["tlb_shootdowns"] >= 1
    balanced(r)


@pytest.mark.parametrize("cpus", (2, 3))
def test_one_call_is_one_shootdown_whatever_its_pages(cpus):
    watch = Shootdowns()
    k = new_kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()),
                   check=True, cpus=cpus, seed=1)
    k.attach(watch)
    k.create_process("shootdown_batch", arg=256)     # pages
    k.run()
    assert [p.status for p in k.procs] == [0]
    assert k.stats.tlb_shootdowns == len(watch.seen)
    rounds = [s for s in watch.seen if s[3] == "mprotect"]
    assert len(rounds) == 1
    cpu, targets, pid, _ = rounds[0]
    assert pid == 1 and len(targets) == 1 and cpu not in targets


def test_cpus_running_another_address_space_get_no_interrupt():
    """Two single-threaded processes on two CPUs: each change is its own
    process's, live nowhere else, so no shootdown is ever sent."""
    watch = Shootdowns()
    r = boot(Programs(), ["fork_basic"], cpus=2, seed=3, observers=[watch])
    assert r.statuses == [0, 3]
    assert r.stats["cow_faults"] > 0 and r.stats["tlb_shootdowns"] == 0
    assert watch.seen == []


@pytest.mark.parametrize("paging", ("32", "pae"))
def test_shootdown_off_reports_the_stale_access(paging):
    r = boot_arg("stale", 0, paging=paging, cpus=2, seed=1,
                 tlb_shootdown=False)
    assert "warning: --tlb-shootdown off" in r.stderr
    assert r.stats["tlb_shootdowns"] == 0
    stale = r.report["stale_tlb"]
    assert stale and all((s["pid"], s["tid"], s["cpu"], s["address"]) ==
                         (1, READER_TID, 1, SEGMENT) for s in stale)
    assert "next owner's data" in r.stdout     # it read the new owner's
    assert r.statuses == [66]
    assert f"stale TLB: tid {READER_TID} of pid 1 (stale) on cpu 1 read " \
           f"{SEGMENT:#010x}" in r.stderr


@pytest.mark.parametrize("paging", ("32", "pae"))
@pytest.mark.parametrize("seed", range(3))
def test_a_cow_break_under_a_reading_sibling_shows_it_the_new_frame(
        paging, seed):
    r = boot_arg("stale", 3, paging=paging, cpus=2, seed=seed)
    assert r.statuses == [0, 0], r.stdout
    assert r.stats["cow_copies"] >= 1 and r.stats["tlb_shootdowns"] >= 1
    balanced(r)


def test_shootdown_off_a_cow_break_leaves_the_sibling_on_the_old_frame():
    r = boot_arg("stale", 3, cpus=2, seed=0, tlb_shootdown=False)
    assert r.statuses == [77, 0]
    assert "still reading the old frame" in r.stdout
    assert {(s["pid"], s["tid"], s["access"]) for s in
            r.report["stale_tlb"]} == {(1, 3, "read")}   # the reader


def test_the_bench_programs_run_and_batch():
    """tools/bench/threads.py's programs: a 50-page mprotect under a
    spinning sibling is one shootdown; the loops end with status 0."""
    from tools.bench import threads as tb
    assert tb.mprotect_shootdowns(50) == 1
    assert tb.round_trip_us(tb.THREAD_LOOP, 3) > 0
    assert tb.round_trip_us(tb.FORK_LOOP, 3) > 0
    assert all(rate > 0 for rate in tb.compute_rates(1000))
