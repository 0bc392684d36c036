"""tools/bench/reverse.py with small runs: both journeys back arrive
(the backward continue at the watched write, at the start of the run),
and the figures are times and a ratio; under the real gdb too."""

from tools.bench.reverse import bench_reverse, gdb_journeys


def test_reverse_figures_on_a_small_run():
    f = bench_reverse(30_000, repeat=1)
    assert f["reverse_stepi_s"] > 0 and f["reverse_continue_s"] > 0
    # before the write that took (instruction 3: the first attempt faults)
    assert f["watch_hit_count"] == 2
    assert f["ready_vs_not_ratio"] > 0


def test_gdb_figures_with_checkpoints_on_a_small_run():
    f = gdb_journeys(300_000, 100_000, 50_000)
    assert set(f) == {"forward", "reverse_stepi", "reverse_continue",
                      "checkpoint_mib"}
    assert all(v > 0 for k, v in f.items() if k != "checkpoint_mib")
    assert f["checkpoint_mib"] >= 0
    assert set(gdb_journeys(300_000, 100_000, 0, journeys=False)) == {
        "forward", "checkpoint_mib"}
