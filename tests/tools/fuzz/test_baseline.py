"""tools/fuzz/baseline.py: the earlier revision's blind fuzzer runs from
its own exported tree and reports programs and CPU seconds."""

from tools.fuzz import baseline


def test_the_earlier_fuzzer_runs_from_its_own_tree(tmp_path):
    baseline.export(baseline.REVISION, tmp_path)
    assert (tmp_path / "tools" / "fuzz.py").is_file()    # one module then
    got = baseline.measure(2, 1, 3)
    assert got.revision == baseline.REVISION and got.violations == 0
    assert got.programs > 0 and 0 < got.cpu < 30
    assert got.rate() == got.programs / got.cpu
