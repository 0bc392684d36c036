"""tools.bench.ipc_rtt: the message round trip alone, against the bare
hook measured in the same run."""

import pytest

from tools.bench import ipc_rtt


def test_round_trip_gives_both_times_and_their_ratio():
    f = ipc_rtt.round_trip(repeat=2, rounds=500)
    assert f["hook_us"] > 0 and f["message_us"] > 0
    assert f["ratio"] == pytest.approx(f["message_us"] / f["hook_us"])


def test_main_prints_the_figures(capsys):
    assert ipc_rtt.main(["--repeat", "1", "--rounds",
                         str(ipc_rtt.SHORT + 30)]) == 0
    out = capsys.readouterr().out
    assert "bare hook round trip:" in out
    assert "x the bare hook" in out


def test_a_long_run_no_longer_than_the_short_one_is_refused(capsys):
    with pytest.raises(SystemExit):
        ipc_rtt.main(["--rounds", str(ipc_rtt.SHORT)])
    assert "--rounds" in capsys.readouterr().err


def test_cpu_time_gives_both_times_and_their_ratio():
    f = ipc_rtt.round_trip_cpu(repeat=2, rounds=500)
    assert f["hook_us"] > 0 and f["message_us"] > f["hook_us"]
    assert f["ratio"] == pytest.approx(f["message_us"] / f["hook_us"])


def test_main_says_which_clock_it_used(capsys):
    assert ipc_rtt.main(["--repeat", "1", "--rounds", "200",
                         "--clock", "cpu"]) == 0
    assert "(cpu time)" in capsys.readouterr().out
