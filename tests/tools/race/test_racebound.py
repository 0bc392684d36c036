"""--races keeps a log of fixed size: a lone process, never preempted,
writing a 4 MiB shared segment over and over has its accesses drained in
mid-slice whenever its CPU's log fills up, none lost; the detector keeps a
summary per word, whose accesses one instruction's loop shares."""

import pytest

from emu.memlog import CAPACITY
from tools.race.watch import RaceWatch

WORDS = 1 << 20                  # a 4 MiB segment
PASSES = 3

CLEAR = f"""
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x5152
    mov ecx, {4 * WORDS}
    mov edx, 0x180
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0x40000000
    mov edx, 0
    int 0x80
    mov edx, eax
    mov esi, {PASSES}
again:
    mov edi, edx
    mov ecx, {WORDS}
    xor eax, eax
    rep stosd
    dec esi
    jnz again
    mov eax, SYS_EXIT
    mov ebx, 0
    int 0x80
"""


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_a_long_slice_over_a_big_segment_keeps_the_log_bounded(
        run_sources, paging):
    r = run_sources({"clear.s": CLEAR}, races=True, paging=paging)
    assert r.statuses == [0], r.stderr
    races = r.kernel.observer(RaceWatch)
    log = races.logs[0]
    assert len(log.buf) == 3 * CAPACITY and log.state.cap == CAPACITY
    assert log.state.n <= CAPACITY and log.dropped == 0
    assert races.det.accesses == PASSES * WORDS       # none lost
    assert PASSES * WORDS > 10 * CAPACITY             # drained mid-slice
    assert races.det.shadow_words() == WORDS          # one summary per word
    assert len(races.det.sites.index) <= 2 * PASSES
    assert r.report["races"] == []
