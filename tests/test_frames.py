"""kernel/frames.py: the frame allocator and its reference counts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.frames import FrameError, Frames

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
    from kernel.frames import consecutive_runs
    pfns = array("I", list(range(100, 140)) + [7] + list(range(20, 60)))
    assert consecutive_runs(pfns) == [(100, 40), (7, 1), (20, 40)]
    assert consecutive_runs(array("I")) == []
    assert consecutive_runs(array("I", [5, 9, 2, 8])) is None  # a loop's
