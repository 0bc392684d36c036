"""The incremental checker gives the full recount's verdicts: on clean runs
none, and on each planted kernel bug the same invariant at the same event."""

import io
import re

import pytest

from emu.x86 import PAGE_SIZE, PTE_COW, PTE_P, PTE_W
from kernel.kernel import Console, Kernel
from kernel.memlayout import KERNBASE
from kernel.mm.vm import AddressSpace
from tests.kernel.mm.test_hugetlb import SHARE
from tools.observe.check import Checker, InvariantViolation
from tools.observe.incremental import IncrementalChecker
from tools.toolchain.programs import Programs

CHECKERS = {
    "full": Checker,
    # no full recount but at the end: the incremental checks must catch it
    "incremental": lambda k: IncrementalChecker(k, full_every=0),
}


def verdict(kind, names, plant=None, programs=None, **kw):
    """(event count, event, invariant) of the first violation the checker
    of kind finds in a run of names (with plant(k) applied after boot), or
    None; and the checker. Slices are counted (quantum), so both runs
    interleave alike."""
    kw.setdefault("quantum", 2000)
    k = Kernel(programs or Programs(), console=Console(io.BytesIO(),
                                                      io.BytesIO()), **kw)
    c = CHECKERS[kind](k)
    k.attach(c)
    k.boot(names)
    if plant:
        plant(k)
    try:
        k.run()
    except InvariantViolation as e:
        return (c.events, c.last_event,
                re.search(r"invariant '([^']*)'", str(e)).group(1)), c
    return None, c


def same_verdict(names, plant=None, **kw):
    full, _ = verdict("full", names, plant, **kw)
    inc, c = verdict("incremental", names, plant, **kw)
    assert inc == full
    return full, c


RUNS = [(["fork_basic"], {}), (["fork_three"], {}), (["fork_shm"], {}),
        (["shm_attach_test"], {}), (["futex_shm_detach"], {}),
        (["text64"] * 3, {}), (["fork_basic"], {"paging": "pae"}),
        (["fork_shm"], {"paging": "pae"}),
        (["ipc_pingpong"], {"cpus": 2, "seed": 3, "quantum": 500}),
        (["fork_storm"], {"cpus": 2, "seed": 1}),
        (["fork_cow_oom"], {"memory": 4 << 20})]


@pytest.mark.parametrize("names,kw", RUNS)
def test_clean_runs_pass_both(names, kw):
    found, c = same_verdict(names, **kw)
    assert found is None
    assert c.fulls == 1 and c.checks == c.events + 1    # each event, the end


def _wrap(monkeypatch, name, after):
    """AddressSpace.name, followed by after(self, result, *args)."""
    orig = getattr(AddressSpace, name)

    def wrapped(self, *args):
        r = orig(self, *args)
        after(self, r, *args)
        return r
    monkeypatch.setattr(AddressSpace, name, wrapped)


def plant_missing_drop(k):
    """The third reference drop after boot does not happen."""
    orig, calls = k.frames.decref, [0]

    def decref(pa):
        calls[0] += 1
        return k.frames.refcount(pa) if calls[0] == 3 else orig(pa)
    k.frames.decref = decref


def _child_pte(child, want):
    """The address of the first PTE of child with all bits of want."""
    mode = child.vm.mode
    for i, pt in sorted(child.tables.items()):
        for j in range(mode.ptes_per_table):
            addr = pt + mode.entry_size * j
            if child.vm.read_entry(addr) & want == want:
                return addr
    raise AssertionError("no such PTE")


def cow_left_writable(child, r):
    addr = _child_pte(child, PTE_P | PTE_COW)
    child.vm.write_entry(addr, child.vm.read_entry(addr) | PTE_W)


def freed_while_mapped(aspace, copied, va):
    if copied is False:                  # reused: the PTE still names it
        aspace.vm.frames.decref(aspace.frame_of(va))


def kernel_half_changed(child, r):
    mode = child.vm.mode
    child.vm.write_entry(child.pde_addr(mode.dirx(KERNBASE) + 1), 0x1000 | 1)


def leaf_misaligned(aspace, r, va, pa, flags):
    mode = aspace.vm.mode
    aspace.vm.write_entry(aspace.pde_addr(mode.dirx(va)),
                          (pa + PAGE_SIZE) | flags | (1 << 7))


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_missing_reference_drop(paging):
    found, _ = same_verdict(["fork_three"], plant_missing_drop, paging=paging)
    assert found and found[2] == "refcount = PTEs + owners"


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_cow_pte_left_writable(monkeypatch, paging):
    _wrap(monkeypatch, "fork", lambda a, child: cow_left_writable(child, a))
    found, _ = same_verdict(["fork_basic"], paging=paging)
    assert found and found[2] == "a COW PTE is never writable"
    assert found[1].syscall == "fork"


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_frame_freed_while_mapped(monkeypatch, paging):
    _wrap(monkeypatch, "break_cow", freed_while_mapped)
    found, _ = same_verdict(["fork_three"], paging=paging)
    assert found and found[2] == "refcount = PTEs + owners"


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_kernel_half_pde_changed(monkeypatch, paging):
    _wrap(monkeypatch, "fork", lambda a, child: kernel_half_changed(child, a))
    found, _ = same_verdict(["fork_basic"], paging=paging)
    assert found and found[2] == "kernel half identical in every page " \
        "directory"


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_large_page_leaf_misaligned(monkeypatch, tmp_path, paging):
    (tmp_path / "hugeshare.c").write_text(SHARE)
    progs = Programs()
    progs.add(tmp_path / "hugeshare.c")
    _wrap(monkeypatch, "map_large", leaf_misaligned)
    found, _ = same_verdict(["hugeshare"], programs=progs, paging=paging,
                            memory=32 << 20)
    assert found is not None


def test_frames_record_is_off_without_a_checker():
    k = Kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()))
    assert k.frames.touched is None and k.vm.dirty is None


class BothCheckers(IncrementalChecker):
    """After each incremental check, the full recount (it must pass too)
    and the picture's PTE counts against the page tables' own."""

    def run(self, event):
        super().run(event)
        refs, _ = self._count_page_table_refs()
        mine = dict(self.pte_refs + self.tables)
        assert mine == {pa: n for pa, n in refs.items() if n}, event
        Checker.run(self, event)
        self.writable = {pa for pa, n in self.private_w.items() if n}


def test_random_programs_agree(monkeypatch):
    """Hostile fuzz boots (random event streams, one and two CPUs): the
    incremental picture equals the full recount after every event."""
    import tools.observe.boot as observe_boot
    from tools.fuzz.campaign import fuzz
    monkeypatch.setattr(observe_boot, "IncrementalChecker", BothCheckers)
    c = fuzz(seed=3, cases=36, cpus="mix", check_every=1)
    assert c.checks > c.boots and not c.violations
