"""kernel/mm/frames.py: the frame allocator and its reference counts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.mm.frames import FrameError, Frames

FIRST, END = 0x10000, 0x20000        # 16 frames


def test_fresh_allocator_hands_out_lowest_first():
    f = Frames(FIRST, END)
    assert f.total == f.nfree == 16
    got = [f.alloc() for _ in range(16)]
    assert got == list(range(FIRST, END, 0x1000))
    assert f.nfree == 0 and f.alloc() is None
    assert all(f.refcount(pa) == 1 for pa in got)


def test_refcount_frees_at_zero_only():
    f = Frames(FIRST, END)
    pa = f.alloc()
    f.incref(pa)
    f.incref(pa)
    assert f.refcount(pa) == 3
    assert f.decref(pa) == 2 and f.decref(pa) == 1
    assert f.nfree == 15 and not f.reused
    assert f.decref(pa) == 0
    assert f.nfree == 16 and f.reused
    assert f.alloc() == pa            # the freed frame comes back


def test_counts_are_per_frame():
    f = Frames(FIRST, END)
    a, b = f.alloc(), f.alloc()
    f.incref(a)
    f.decref(b)
    assert (f.refcount(a), f.refcount(b)) == (2, 0)
    assert b != a and f.nfree == 15


@pytest.mark.parametrize("op", ["incref", "decref"])
def test_free_or_foreign_frames_are_kernel_bugs(op):
    f = Frames(FIRST, END)
    pa = f.alloc()
    f.decref(pa)
    for bad in (pa, FIRST - 0x1000, END, FIRST + 0x3000):
        with pytest.raises(FrameError):
            getattr(f, op)(bad)
    assert f.nfree == 16


def test_double_free_does_not_corrupt_the_free_list():
    f = Frames(FIRST, END)
    pa = f.alloc()
    f.decref(pa)
    with pytest.raises(FrameError):
        f.decref(pa)
    got = {f.alloc() for _ in range(16)}
    assert len(got) == 16 and f.alloc() is None


def test_same_operations_same_frames():
    def trace():
        f = Frames(FIRST, END)
        a = [f.alloc() for _ in range(5)]
        f.decref(a[1])
        f.decref(a[3])
        return a + [f.alloc(), f.alloc(), f.alloc()]
    assert trace() == trace()


def test_freed_frames_come_back_lowest_first():
    f = Frames(FIRST, END)
    got = [f.alloc() for _ in range(6)]
    for pa in (got[4], got[1], got[3]):
        f.decref(pa)
    assert [f.alloc() for _ in range(3)] == [got[1], got[3], got[4]]
    assert f.problems() == []


LFIRST, LEND = 0x100000, 0x1000000          # 15 MiB: 3 whole 4 MiB runs


def test_runs_are_aligned_contiguous_and_taken_from_the_top():
    f = Frames(LFIRST, LEND)
    a = f.alloc_run(1024, 1024)
    b = f.alloc_run(1024, 1024)
    assert (a, b) == (0xC00000, 0x800000)
    assert all(f.refcount(a + i * 0x1000) == 1 for i in range(1024))
    assert f.nfree == f.total - 2048 and f.problems() == []
    assert f.alloc() == LFIRST                  # small ones stay low


def test_no_aligned_run_when_fragmented():
    f = Frames(LFIRST, LEND)
    small = [f.alloc() for _ in range(f.total)]
    for pa in small:                            # free all but one frame per
        if pa & 0x3FFFFF != 0x200000:           # 4 MiB: no whole run left
            f.decref(pa)
    assert f.alloc_run(1024, 1024) is None
    assert f.alloc_run(512, 512) == 0xC00000    # 2 MiB runs still fit
    f.decref(0x600000)                          # the 4-8 MiB run is whole now
    assert f.alloc_run(1024, 1024) == 0x400000
    assert f.problems() == []


def test_run_frames_free_one_by_one_and_coalesce():
    f = Frames(LFIRST, LEND)
    a = f.alloc_run(512, 512)
    for i in range(512):
        f.decref(a + i * 0x1000)
    assert f.nfree == f.total and f.alloc_run(512, 512) == a


def test_problems_names_broken_books():
    f = Frames(FIRST, END)
    pa = f.alloc()
    f.free_map[pa >> 12] = 1
    f.nfree += 1
    assert f.problems()[0][0] == "no frame both free and in use"
    f.free_map[pa >> 12] = 0
    f.nfree -= 1
    f.ref[pa >> 12] = 0
    assert f.problems()[0][0] == "every frame is free or in use"
    f.ref[pa >> 12] = 1
    f.nfree += 1
    assert f.problems()[0][0] == "free count matches the free map"


def test_random_operations_keep_the_invariants():
    import random
    rng = random.Random(12)
    f = Frames(LFIRST, LEND)
    held = []
    for _ in range(3000):
        op = rng.random()
        if op < 0.5:
            pa = f.alloc()
            if pa is not None:
                held.append(pa)
        elif op < 0.55:
            pa = f.alloc_run(512, 512)
            if pa is not None:
                assert pa % (2 << 20) == 0
                held += [pa + i * 0x1000 for i in range(512)]
        elif held:
            f.decref(held.pop(rng.randrange(len(held))))
    assert len(set(held)) == len(held) == f.total - f.nfree
    assert f.problems() == []


def test_run_references_in_one_step_match_frame_by_frame():
    f = Frames(LFIRST, LEND)
    a = f.alloc_run(512, 512)
    f.incref_run(a, 512)
    assert {f.refcount(a + i * 0x1000) for i in range(512)} == {2}
    f.incref(a + 0x5000)                         # counts differ: slow path
    f.decref_run(a, 512)
    assert f.refcount(a) == 1 and f.refcount(a + 0x5000) == 2
    f.decref(a + 0x5000)
    free = f.nfree
    f.decref_run(a, 512)
    assert f.nfree == free + 512 and f.problems() == []
    assert f.alloc_run(512, 512) == a
    for bad in (a - (1 << 21), a + (1 << 21)):   # free, or past the end
        with pytest.raises(FrameError):
            f.decref_run(bad, 512)
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.just(0), st.integers(16, 40)), max_size=80),
       st.booleans())
def test_bulk_increments_equal_one_at_a_time(nums, sorted_):
    """incref_pfns (fork's bulk path, by runs of consecutive frames) adds
    exactly what a loop of single increments would; 0 means no frame."""
    from array import array
    if sorted_:
        nums = sorted(nums)
    fast, slow = Frames(16 << 12, 64 << 12), Frames(16 << 12, 64 << 12)
    fast.incref_pfns(array("I", nums))
    for pfn in nums:
        if pfn:
            slow.ref[pfn] += 1
    assert fast.ref == slow.ref


def test_consecutive_runs_split_where_numbers_jump():
    from array import array
    from kernel.mm.frames import consecutive_runs
    pfns = array("I", list(range(100, 140)) + [7] + list(range(20, 60)))
    assert consecutive_runs(pfns) == [(100, 40), (7, 1), (20, 40)]
    assert consecutive_runs(array("I")) == []
    assert consecutive_runs(array("I", [5, 9, 2, 8])) is None  # a loop's


def test_merge_runs_join_what_follows_with_one_key():
    from array import array
    from kernel.mm.frames import consecutive_runs, merge_runs
    pages = [(0x1000, 1, "r"), (0x2000, 1, "r"), (0x3000, 1, "w"),
             (None, 1, "r"), (None, 2, "r"), (0x5000, 4, "r"),
             (0x9000, 1, "r")]
    assert merge_runs(pages) == [[0x1000, 2, "r"], [0x3000, 1, "w"],
                                 [None, 3, "r"], [0x5000, 5, "r"]]
    pfns = array("I", list(range(100, 140)) + [7] + list(range(20, 60)))
    assert [(first, n) for first, n, _ in merge_runs(
        ((pfn, 1, None) for pfn in pfns), step=1)] == consecutive_runs(pfns)
