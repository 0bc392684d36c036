"""The invariant checker finds each kind of broken book-keeping."""

import io

import pytest

from emu.x86 import PTE_P, PTE_U, PTE_W
from tools.observe.check import InvariantViolation
from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.observe.check import Checker
from kernel.proc.loader import flat_image
from tools.toolchain.asm import assemble_source


class Images(dict):
    pass


@pytest.fixture
def kernel():
    img = flat_image("p", assemble_source("mov eax, SYS_EXIT\nint 0x80"))
    # Counted slices: no timer can preempt pid 1 before its exit, so the
    # first system call the checker sees is always pid 1's.
    k = new_kernel(Images(p=img), console=Console(io.BytesIO(), io.BytesIO()),
                   check=True, quantum=100_000)
    k.boot(["p", "p"])
    return k


def test_clean_kernel_passes(kernel):
    kernel.observer(Checker).run("test")
    assert kernel.observer(Checker).checks == 1


def test_every_check_runs_during_a_run(kernel):
    kernel.run()
    assert kernel.observer(Checker).checks >= 2          # one exit each


def test_extra_reference_is_caught(kernel):
    p = kernel.procs.get(1)
    kernel.frames.incref(p.aspace.pd)
    with pytest.raises(InvariantViolation, match="refcount"):
        kernel.observer(Checker).run("test")


def test_user_pte_naming_a_page_table_is_caught(kernel):
    a = kernel.procs.get(1).aspace
    other_pt = next(iter(kernel.procs.get(2).aspace.tables.values()))
    kernel.frames.incref(other_pt)
    a.map_pages(0x10000000, [other_pt], PTE_P | PTE_W | PTE_U)
    with pytest.raises(InvariantViolation, match="user PTEs never name"):
        kernel.observer(Checker).run("test")


def test_kernel_half_difference_is_caught(kernel):
    a = kernel.procs.get(2).aspace
    kernel.hw.write32(a.pd + 4 * 770, 0x1000 | 1)    # maps the GDT again
    with pytest.raises(InvariantViolation, match="kernel half"):
        kernel.observer(Checker).run("test")


def test_frame_free_and_in_use_is_caught(kernel):
    a = kernel.procs.get(1).aspace
    kernel.frames.free_map[a.pd >> 12] = 1      # a bug: freed while used
    kernel.frames.nfree += 1
    with pytest.raises(InvariantViolation, match="free"):
        kernel.observer(Checker).run("test")


def test_violation_in_a_run_names_the_last_syscall(kernel):
    p = kernel.procs.get(2)
    kernel.frames.incref(p.aspace.pd)
    with pytest.raises(InvariantViolation, match="syscall exit by pid 1"):
        kernel.run()


def test_lost_frame_is_caught(kernel):
    f = kernel.frames
    f.free_map[f.end - 1] = 0                   # a bug: dropped from the map
    f.nfree -= 1
    with pytest.raises(InvariantViolation, match="neither"):
        kernel.observer(Checker).run("test")
