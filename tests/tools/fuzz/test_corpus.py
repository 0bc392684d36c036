"""The corpus's seam entries and weights (tools/fuzz/corpus.py): seam
boots join the corpus with their mode and CPU count, are drawn again in
them (as they were or mutated with seam moves), and entries whose
features few others reached are drawn more often."""

import random
from collections import Counter

from tools.fuzz import campaign as fz
from tools.fuzz import corpus, leak, rounds, seams
from tools.fuzz.seams import Mode

def _seam_entry(seed, mode, cpus):
    spec = fz.make_spec(seed, cpus, 3, 0.35, mode)
    return corpus.Entry(tuple(spec.texts.values()), mode, cpus,
                        frozenset({("errno", 1, -22)}))


def _boots_clean(spec):
    c = fz.Campaign()
    with fz._Recorder(c):
        o = fz.run_spec(spec, leak.new_secret())
    return o.violations == [] and c.violations == []


def test_a_seam_entry_is_drawn_in_its_mode_on_its_cpus():
    """A seam boot drawn from a seam entry runs the entry's programs (some
    mutated) in the entry's mode on its CPU count, each started one to
    three times, and boots clean; a plain boot never draws it."""
    mode = Mode(True, "pae", True)
    entry = _seam_entry(3, mode, 2)
    drawer = corpus.Drawer([entry])
    drawn = fresh = mutated = 0
    for seed in range(40):
        spec = drawer(seed, 1, 3, 0.35, Mode(True))
        if drawer.last is None:                 # fresh, as its seed draws
            fresh += 1
            assert spec.texts == fz.make_spec(seed, 1, 3, 0.35,
                                              Mode(True)).texts
            continue
        drawn += 1
        assert (spec.mode, spec.cpus) == (mode, 2)
        assert sorted(set(spec.starts)) == sorted(spec.texts)
        assert spec.quantum in (50000, 500000)  # the race detector's
        mutated += tuple(spec.texts.values()) != entry.texts
        if drawn <= 2:
            assert _boots_clean(spec)
        plain = drawer(seed, 1, 3, 0.35, Mode())
        assert plain.mode == Mode() and not set(plain.texts.values()) & \
            set(entry.texts)
    assert drawn > 10 and fresh > 10 and mutated > 5


def test_a_seam_mutant_draws_seam_moves_and_boots_clean():
    """Fresh items of a seam program's mutants are SeamWriter's (its seam
    moves among them); the mutants assemble and boot with no violation."""
    fx = fz.fixed()
    parent = fz.random_program(random.Random(1), targets=fx.targets,
                               hostile=0, writer=seams.SeamWriter)
    seen = set()
    for seed in range(60):
        child = corpus.mutate(parent, random.Random(seed), [],
                              fx.targets, 1.0, seams.SeamWriter)
        seen |= _moves_in(set(child.splitlines()) -
                          set(parent.splitlines()))
        if seed < 4:
            spec = fz.make_spec(seed, 2, 0, 0.35, Mode(True))
            spec = spec.with_texts({"m": child})
            spec.starts = ["m", "m"]
            assert _boots_clean(spec), seed
    assert len(seen) >= 4, seen


def _moves_in(lines):
    """Seam moves recognisable by what only they emit."""
    marks = {"huge_pages": "0x5ec0de0a", "code_shm_yield": "0x5ec0de06",
             "code_private_yield": "0x5ec0de05", "futex_private": "fword",
             "code_after_fork": "0x5ec0de08", "shm_loop": "rep stosd"}
    text = "\n".join(lines)
    return {m for m, mark in marks.items() if mark in text}


def test_an_entry_with_rare_features_is_drawn_more_often():
    c = corpus.Corpus()
    common = {("errno", 1, -22), ("errno", 2, -22), ("fault", 14)}
    c.offer(["a"], common)
    c.offer(["b"], common | {("line", "kernel/x.py", 1)})
    for n in range(2, 6):                       # the common ones again
        c.offer([f"c{n}"], common | {("line", "kernel/x.py", n)})
    c.offer(["rare"], {("line", "kernel/y.py", 1), ("line", "kernel/y.py", 2),
                       ("fault", 6)})
    w = {e.texts[0]: c.weight(e) for e in c.entries}
    assert w["rare"] > w["b"] > w["a"]
    got = Counter(e.texts[0] for e in c.draw(random.Random(1), 3000))
    assert got["rare"] > 1.5 * got["a"]
    assert all(not e.mode.seams for e in c.draw(random.Random(1)))


def test_draw_ships_each_kind():
    """Seam entries are drawn apart from plain ones, so a few seam entries
    among many plain ones still reach every unit (without the features
    only the corpus weighs)."""
    c = corpus.Corpus()
    for n in range(30):
        c.offer([f"p{n}"], {("line", "k.py", n)})
    c.offer(["s"], {("fault", 6)}, Mode(True), 2)
    drawn = c.draw(random.Random(2))
    assert sum(e.mode.seams for e in drawn) == corpus.SHIPPED
    assert {(e.texts, e.cpus) for e in drawn if e.mode.seams} == {(("s",), 2)}
    assert not any(e.found for e in drawn)      # not shipped to units


def test_a_guided_unit_draws_from_its_own_finds():
    """With no corpus to start from, a guided unit's later boots run
    programs of its earlier finds (as they were, or mutated)."""
    def thief(k, secret):               # every boot's texts in a violation
        k.console.write(1, secret)
    unit = rounds.Unit(7, 64, None, 1, {"plant": thief, "seam_share": 0,
                                         "diff_share": 0}, True, 0)
    part = rounds.run_unit(None, unit)
    boots = [set(v["texts"].values()) for v in part.campaign.violations]
    assert len(boots) == 8
    earlier, reused = set(), 0
    for texts in boots:
        reused += bool(texts & earlier)
        earlier |= texts
    assert reused >= 1 and part.found
