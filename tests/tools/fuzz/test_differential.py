"""Differential boots (tools/fuzz/differential.py): paired runs of sound
kernels agree; a kernel whose observable behaviour depends on the mode of
a pair (a planted defect: an exit status changed only in that mode) is
reported for each pair, with both sides."""

import itertools

import pytest

from emu import x86
from kernel.kernel import Kernel
from tools.fuzz import campaign as fuzz
from tools.fuzz import differential, seams
from tools.observe.check import Checker
from tools.observe.incremental import IncrementalChecker
from tools.race.watch import RaceWatch

# pair -> when a planted kernel changes an exit status
TELLS = {
    "check": lambda k: k.observer((Checker, IncrementalChecker)) is not None,
    "races": lambda k: k.observer(RaceWatch) is not None,
    "debugger": lambda k: any(type(o).__name__ == "Debugger"
                              for o in k.observers),
    "paging": lambda k: k.paging is x86.PAGING_PAE,
    "cpus": lambda k: len(k.hw.cpus) > 1,
}


def _spec(seed, pair):
    """A plain boot whose programs allow pair."""
    for s in itertools.count(seed):
        spec = fuzz.make_spec(s, cpus=2, programs_per_boot=2)
        if pair in differential.pairs_for(spec):
            return spec


def _compare(spec, pair):
    return differential.compare(spec, pair, lambda: fuzz._watchdog(60),
                                fuzz.fixed().secret_va)


@pytest.mark.parametrize("pair", differential.PAIRS)
def test_sound_kernel_agrees_with_itself(pair):
    assert _compare(_spec(10, pair), pair) == []


@pytest.mark.parametrize("pair", sorted(TELLS))
def test_a_mode_dependent_kernel_is_found(pair, monkeypatch):
    tells, real = TELLS[pair], Kernel.exit_process

    def planted(k, p, status, fault=None):
        return real(k, p, status + 1 if tells(k) else status, fault)
    monkeypatch.setattr(Kernel, "exit_process", planted)
    found = _compare(_spec(20, pair), pair)
    assert found and all(f.startswith(f"differential {pair}: statuses")
                         for f in found), found
    assert " vs " in found[0]


def test_a_nondeterministic_kernel_fails_its_replay(monkeypatch):
    """A kernel whose statuses depend on how often it has booted."""
    boots, real = itertools.count(), Kernel.boot

    def planted(k, names):
        k.stats.bias = next(boots)
        return real(k, names)
    real_exit = Kernel.exit_process
    monkeypatch.setattr(Kernel, "boot", planted)
    monkeypatch.setattr(Kernel, "exit_process", lambda k, p, s, f=None:
                        real_exit(k, p, s + k.stats.bias, f))
    found = _compare(_spec(30, "replay"), "replay")
    assert any("differential replay: statuses" in f for f in found), found


def test_campaign_runs_pairs_and_records_them():
    """diff_share 1: every boot is paired; a seam boot's pair is drawn from
    its seed, so the violation record can name it."""
    spec = fuzz.make_spec(5, mode=seams.Mode(True))
    assert differential.draw_pair(spec) == differential.draw_pair(spec)
    assert "paging" not in differential.pairs_for(spec)
    c = fuzz.fuzz(seed=77, cases=24, cpus="mix", diff_share=1.0)
    assert c.violations == [], c.violations[:3]
    assert 1 <= c.paired <= c.boots == 3     # slow boots are not paired


# A large-page segment made by call number alone (no "SHM" in the text, so
# the program runs in the paging pair): 4 MiB under 32-bit paging, 2 MiB
# under PAE, by the ABI's rule, so the pair compares nothing.
HUGE = """
    mov eax, 0xa
    mov ebx, 0x77
    mov ecx, 0x1000
    mov edx, 0x%x
    int 0x80
    mov ebx, eax
    mov eax, 0x1
    int 0x80
""" % (0o600 | differential.SHM_HUGETLB)


def test_large_pages_end_the_paging_comparison():
    spec = fuzz.make_spec(3, cpus=1, programs_per_boot=0).with_texts(
        {"huge": HUGE})
    (sa, va), (sb, vb) = differential.variants(spec, "paging")
    a, b = (differential.observe(s, v, fuzz._watchdog(60),
                                 fuzz.fixed().secret_va)
            for s, v in ((sa, va), (sb, vb)))
    assert a.large and b.large
    assert [s[1] for s in a.segments] == [4 << 20]
    assert [s[1] for s in b.segments] == [2 << 20]     # they do differ
    assert _compare(spec, "paging") == []


def test_outputs_keep_length_digest_and_head_of_big_writes():
    outs = differential.Outputs()
    for _ in range(3):
        outs.on_output(None, 1, b"x" * 100_000)
    (n, digest, head), = outs.seen().values()
    assert n == 300_000 and head == b"x" * differential.Outputs.HEAD
    other = differential.Outputs()
    other.on_output(None, 1, b"x" * 299_999 + b"y")
    assert other.seen()[(0, 1)][1] != digest
