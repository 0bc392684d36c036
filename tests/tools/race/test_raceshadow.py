"""The race detector's shadow (tools/race/shadow.py) on synthetic streams:
8 bytes per word for a loop of aligned dword writes, and a budget that
bounds the host memory of the whole shadow whatever the accesses are,
by dropping whole frames, those in use last."""

import tracemalloc

import pytest

from tools.race.detector import Detector
from tools.race.shadow import FRAME_BYTES

X = 0x100000
PAGE = 4096


def boot(*pids, **kw):
    det = Detector(**kw)
    for pid in pids:
        det.spawn(None, pid)
    return det


def traced(fn):
    """(bytes fn left allocated, its result)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = fn()
        return tracemalloc.get_traced_memory()[0] - before, out
    finally:
        tracemalloc.stop()


def test_a_loop_of_dword_writes_costs_eight_bytes_per_word():
    det = boot(1)
    frames = 64

    def clear():
        for pa in range(X, X + frames * PAGE, 4):
            det.access(1, pa, 4, True, eip=0x401000)
    used, _ = traced(clear)
    assert det.shadow_words() == frames * PAGE // 4
    assert not det.writes and not det.reads and det.evicted == 0
    assert used < frames * (PAGE * 2 + 1024)


def words(pids, size, write):
    """Every pid in turn accesses all of 16 frames, size bytes at a time,
    in a new epoch for each access (nothing is skipped)."""
    def run(det):
        for pid in pids:
            for pa in range(X, X + 16 * PAGE, size):
                det.access(pid, pa, size, write, eip=0x401000 + pid)
                det.release(pid)
    return run


PATTERNS = {
    "dword writes": words([1, 2], 4, True),
    "byte writes": words([1, 2], 1, True),
    "dword reads, read-shared": words([1, 2, 3], 4, False),
    "byte reads by eight threads": words(range(1, 9), 1, False),
}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_the_budget_bounds_the_shadow_whatever_the_accesses(pattern):
    budget = 8 * FRAME_BYTES
    det = boot(*range(1, 9), budget=budget)
    used, _ = traced(lambda: PATTERNS[pattern](det))
    assert det.evicted > 0
    assert det._cost() <= budget
    assert used < 2 * budget + (64 << 10), used     # the estimate holds


@pytest.mark.parametrize("touched", [True, False])
def test_a_frame_in_use_keeps_its_shadow_through_evictions(touched):
    """pid 1 writes X, then clears 64 other frames (the budget holds 8),
    reading X now and then when touched; pid 2's write of X races with
    pid 1's while X's frame kept its shadow, and is missed once it was
    dropped (the precision the budget gives up)."""
    det = boot(1, 2, budget=8 * FRAME_BYTES)
    det.access(1, X, 4, True, eip=1)
    for frame in range(1, 65):
        for pa in range(X + frame * PAGE, X + (frame + 1) * PAGE, 4):
            det.access(1, pa, 4, True, eip=2)
        if touched:
            det.access(1, X, 4, False, eip=3)
    det.access(2, X, 4, True, eip=4)
    assert det.evicted > 0
    assert [(r.a.eip, r.b.eip) for r in det.verdicts()] == \
        ([(1, 4)] if touched else [])


def test_dropped_frames_start_afresh_and_sync_words_stay():
    det = boot(1, 2, budget=4 * FRAME_BYTES)
    det.access(1, X, 4, True, atomic=True, eip=1)     # a sync word
    det.access(1, X + 4, 4, True, eip=2)
    for pa in range(X + PAGE, X + 16 * PAGE, PAGE):
        det.access(1, pa, 4, True, eip=3)
    assert det.evicted > 0 and X & ~0xFFF not in det.frames
    assert det.last_write(X + 4) is None and X in det.sync
    det.access(2, X, 4, False, eip=4)                 # acquires X
    det.access(2, X + 4, 4, True, eip=5)
    det.access(1, X + 4, 4, True, eip=6)
    assert [(r.a.eip, r.b.eip) for r in det.verdicts()] == [(5, 6)]


def test_sync_words_past_their_share_make_frames_coarse():
    """pid 1 makes every word of 8 frames a sync word (an array of atomic
    counters): the frames become coarse, within the budget. A coarse
    frame's words are all sync words sharing one clock: a race that the
    exact rule reports (data published by a release of one counter,
    read after an acquire of another) is hidden; a race elsewhere is
    still reported."""
    budget = 16 * FRAME_BYTES
    det = boot(1, 2, budget=budget)

    def counters():
        for pa in range(X, X + 8 * PAGE, 4):
            det.access(1, pa, 4, False, atomic=True, eip=1)
            det.access(1, pa, 4, True, atomic=True, eip=1)
    used, _ = traced(counters)
    assert det.coarse and det.evicted >= len(det.coarse)
    assert det._cost() <= budget and used < 2 * budget + (64 << 10), used
    coarse = min(det.coarse)
    data = X + 64 * PAGE
    det.access(1, data, 4, True, eip=3)                # data, then a
    det.access(1, coarse, 4, True, atomic=True, eip=4)  # release
    det.access(2, coarse + 4, 4, False, eip=5)         # another word
    det.access(2, data, 4, False, eip=6)
    det.access(1, data + 4, 4, True, eip=7)            # unpublished
    det.access(2, data + 4, 4, True, eip=8)
    assert [(r.a.eip, r.b.eip) for r in det.verdicts()] == [(7, 8)]
