"""Syscall sequence fuzzing by real guest processes (tools/fuzz/callfuzz.py):
hypothesis draws 2-3 call sequences with boundary arguments; with the
invariant checker on, no Python exception escapes the kernel, every error
is one docs/abi.md allows for its call, and once every segment is destroyed the
free frames equal those at boot."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.syscall import Sys
from tools.fuzz.callfuzz import TOUCH_R, TOUCH_W, run_case
from tools.observe.check import Checker

MB = 1 << 20
NEG = 0xFFFFFFFF
IDS = st.sampled_from([0, 1, 1, 2, 2, 3, 4, 5, NEG, 0x80000000])
KEYS = st.sampled_from([0, 0, 1, 2, 0x0badcafe, NEG])
SIZES = st.sampled_from([0, 1, 4095, 4096, 4097, 8192, 64 * MB - 1, 64 * MB,
                         64 * MB + 1, 0x80000000, NEG])
MODES = st.sampled_from([0, 0o400, 0o600, 0o644, 0o666, 0o777, NEG])
ADDRS = st.sampled_from([0, 0, 0x1000, 0x00400000, 0x3FFFF000, 0x40000000,
                         0x40000001, 0x40001000, 0x80000000, 0xAFFFF000,
                         0xB0000000, 0xBFFF0000, 0xBFFFF000, 0xBFFFFFFC,
                         0xC0000000, 0xFFFFF000, NEG, "last", "last"])
BUFS = st.sampled_from(["buf", "buf", "last", 0, 0x1000, 0x00400000,
                        0xBFFFF000, 0xBFFFFFE8, 0xBFFFFFFC, 0xC0000000, NEG])
FLAGS = st.sampled_from([0, 1, 2, 3, NEG])
LENS = st.sampled_from([0, 1, 4, 5, 256, 257, 4096, 64 * MB, NEG])
WILD = st.sampled_from([0, 1, 5, NEG, 0x1000, 0xFFF, 0x40000000,
                        0xBFFFF000, 0xBFFFFFFC, 0xC0000000, 64 * MB, "buf"])
PIDS = st.sampled_from([NEG, NEG, 0, 1, 2, 3, 4, 5, 99])
UIDS = st.sampled_from([0, 42, 42, 1000, NEG])


def _args(*strategies):
    rest = [st.just(0)] * (5 - len(strategies))
    return st.tuples(*strategies, *rest)


ARGS = {
    Sys.WRITE: _args(st.sampled_from([0, 1, 2, 3, NEG]), BUFS, LENS),
    Sys.GETPID: _args(), Sys.GETUID: _args(), Sys.YIELD: _args(),
    Sys.SPAWN: _args(st.sampled_from(["name", "name", 0, 0xBFFFFFFC,
                                      0xC0000000, "buf"]),
                     st.sampled_from([4, 4, 0, 5, 256, 257, NEG]),
                     st.sampled_from([0, 3, NEG])),
    Sys.WAIT: _args(PIDS, BUFS),
    Sys.SETUID: _args(UIDS),
    Sys.SHM_CREATE: _args(KEYS, SIZES, MODES),
    Sys.SHM_LOOKUP: _args(KEYS),
    Sys.SHM_ATTACH: _args(IDS, ADDRS, FLAGS),
    Sys.SHM_DETACH: _args(ADDRS),
    Sys.SHM_DESTROY: _args(IDS),
    Sys.SHM_STAT: _args(IDS, BUFS),
    Sys.FUTEX_WAKE: _args(BUFS, WILD),
}
SHM = [Sys.SHM_CREATE, Sys.SHM_LOOKUP, Sys.SHM_ATTACH, Sys.SHM_DETACH,
       Sys.SHM_DESTROY, Sys.SHM_STAT]
PROC = [Sys.WRITE, Sys.GETPID, Sys.SPAWN, Sys.WAIT, Sys.GETUID, Sys.SETUID]
# Not drawn: exit (ends the program), send/recv/futex_wait (may block).
UNKNOWN = [8, 9, 16, 19, 22, 29, Sys.FUTEX_WAKE, 32, 0x80, NEG]
NUMBERS = st.sampled_from(SHM * 6 + [Sys.SHM_CREATE, Sys.SHM_ATTACH] * 4
                          + PROC * 2 + UNKNOWN + [TOUCH_R, TOUCH_W] * 3)


@st.composite
def calls(draw):
    num = draw(NUMBERS)
    if num in (TOUCH_R, TOUCH_W):
        return (num, ())
    return (num, draw(ARGS.get(num, _args(WILD, WILD, WILD, WILD, WILD))))


CASE = st.lists(st.lists(calls(), min_size=1, max_size=14),
                min_size=2, max_size=3)


def check_outcome(o):
    k = o.kernel
    assert o.error is None, f"{type(o.error).__name__}: {o.error}"
    assert o.campaign.violations == []
    statuses = {p.name: p.status for p in k.procs}
    assert statuses["reaper"] == 0
    assert all(p.status in (0, 270) for p in k.procs
               if p.name.startswith("fz")), statuses
    assert k.shm.segments == {}
    assert k.stats.frames_free_at_end == k.stats.frames_free_at_boot


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(CASE, st.sampled_from([1, 2]), st.integers(0, 1000),
       st.sampled_from([50, 1000]))
def test_call_sequences_keep_the_kernel_whole(sequences, cpus, seed, quantum):
    check_outcome(run_case(sequences, cpus=cpus, seed=seed, quantum=quantum))


def test_a_known_sequence_runs_and_balances():
    seqs = [[(Sys.SHM_CREATE, (1, 4096, 0o600, 0, 0)),
             (Sys.SHM_ATTACH, (1, 0, 0, 0, 0)), (TOUCH_W, ()),
             (Sys.SHM_STAT, (1, "last", 0, 0, 0)),
             (Sys.SPAWN, ("name", 4, 7, 0, 0)),
             (Sys.WAIT, (NEG, "buf", 0, 0, 0)),
             (Sys.SETUID, (42, 0, 0, 0, 0)),
             (Sys.SHM_CREATE, (0, 64 * MB, 0o777, 0, 0))],
            [(Sys.SHM_LOOKUP, (1, 0, 0, 0, 0)),
             (Sys.SHM_ATTACH, (1, 0x40000000, 1, 0, 0)), (TOUCH_R, ()),
             (Sys.SHM_DESTROY, (1, 0, 0, 0, 0)), (25, (0, 0, 0, 0, 0))]]
    o = run_case(seqs, cpus=2, seed=1)
    check_outcome(o)
    assert [(p.name, p.status) for p in o.kernel.procs] == [
        ("reaper", 0), ("fz0", 0), ("fz1", 0), ("leaf", 7)]
    assert o.kernel.observer(Checker).checks > 20
