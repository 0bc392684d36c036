"""tools/bench/reverse.py with a small run: both journeys back arrive
(the backward continue at the watched write, at the start of the run),
and the figures are times and a ratio."""

from tools.bench.reverse import bench_reverse


def test_reverse_figures_on_a_small_run():
    f = bench_reverse(30_000, repeat=1)
    assert f["reverse_stepi_s"] > 0 and f["reverse_continue_s"] > 0
    # before the write that took (instruction 3: the first attempt faults)
    assert f["watch_hit_count"] == 2
    assert f["ready_vs_not_ratio"] > 0
