"""Planted bugs (tools/fuzz/planted.py): each is active only while
planted, a short seeded campaign with it planted reports a violation
carrying its signature, the same campaign on the sound kernel reports
nothing, and the figures' table and docs section are written from the
searches."""

import contextlib
from dataclasses import replace

import pytest

from kernel.ipc.shm import ShmTable
from kernel.mm import coherence
from kernel.mm.vm import AddressSpace
from tools.fuzz import planted



def _real():
    return (AddressSpace.break_cow, coherence.drop_written_code,
            ShmTable._place)


@pytest.mark.parametrize("name", list(planted.BUGS))
def test_a_bug_is_planted_only_while_entered(name):
    before = _real()
    with planted.BUGS[name].planted():
        assert _real() != before
    assert _real() == before


@pytest.mark.parametrize("name,mode,cases", [("cow-no-flush", "blind", 16),
                                             ("cow-no-flush", "guided", 16),
                                             ("stale-code", "blind", 16),
                                             ("huge-align", "blind", 8)])
def test_a_short_campaign_finds_the_planted_bug(name, mode, cases,
                                                monkeypatch):
    """Found with the bug's signature; the same campaign on the sound
    kernel (the bug's focus, no patch) reports nothing."""
    before = _real()
    found = planted.search(name, mode, 1, budget=1e9, cases=cases,
                           focus=True)
    assert _real() == before
    assert found.found and planted.BUGS[name].matches(found.what), found
    assert 1 <= found.boots <= cases // 8 and found.cpu > 0
    sound = replace(planted.BUGS[name], name="sound",
                    patch=contextlib.nullcontext)
    monkeypatch.setitem(planted.BUGS, "sound", sound)
    monkeypatch.setattr(planted.Bug, "matches", lambda self, text: True)
    clean = planted.search("sound", mode, 1, budget=1e9, cases=cases,
                           focus=True)
    assert not clean.found and clean.programs == cases, clean


def test_the_cpu_budget_ends_a_campaign():
    """A budget smaller than one boot: the campaign stops after it,
    not found."""
    s = planted.search("stale-code", "blind", 3, budget=0.01, cases=800)
    assert not s.found and s.boots == 1 and s.cpu >= 0.01


def _s(bug, mode, found, boots, cpu):
    return planted.Search(bug, mode, 1, found, boots, 8 * boots, cpu)


def test_the_table_counts_a_miss_as_longer_than_any_find():
    rows = planted.table([_s("stale-code", "blind", True, 3, 2.0),
                          _s("stale-code", "blind", True, 9, 6.04),
                          _s("stale-code", "blind", False, 40, 60.0),
                          _s("stale-code", "guided", True, 5, 3.0),
                          _s("stale-code", "guided", False, 30, 60.0),
                          _s("huge-align", "guided", False, 30, 60.0)])
    assert rows[2] == "| stale-code | blind | 2 of 3 | 9 | 72 | 6 |"
    assert rows[3] == "| stale-code | guided | 1 of 2 | not found | " \
        "not found | not found |"
    assert rows[4] == "| huge-align | guided | 0 of 1 | not found | " \
        "not found | not found |"


def test_the_section_is_replaced_or_appended(tmp_path):
    doc = tmp_path / "figures.md"
    doc.write_text("# Figures\n\nplot's table\n")
    first = planted.section([_s("huge-align", "blind", True, 2, 1.0)], [])
    planted.write_section(doc, first)
    assert doc.read_text() == "# Figures\n\nplot's table\n\n" + first
    doc.write_text(doc.read_text() + "\n## Later\n\nkept\n")
    second = planted.section([_s("huge-align", "guided", True, 5, 3.0)], [])
    planted.write_section(doc, second)
    text = doc.read_text()
    assert text.count(planted.SECTION) == 1 and second in text
    assert first not in text and text.endswith("## Later\n\nkept\n")
    assert text.startswith("# Figures\n\nplot's table\n")


def test_main_rejects_an_unknown_bug():
    with pytest.raises(SystemExit):
        planted.main(["--bugs", "no-such-bug", "--out", "-"])


def test_main_writes_the_section_from_its_searches(tmp_path, capsys):
    doc = tmp_path / "figures.md"
    doc.write_text("# Fuzzer figures\n")
    assert planted.main(["--bugs", "cow-no-flush", "--seeds", "1",
                         "--cases", "16", "--budget", "1000", "--focus",
                         "--out", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Fuzzer figures\n\n" + planted.SECTION)
    assert "| cow-no-flush | blind | 1 of 1 | 1 | 8 |" in text
    assert "| cow-no-flush | guided | 1 of 1 | 1 | 8 |" in text
    assert "cow-no-flush guided seed 1: found" in capsys.readouterr().out
