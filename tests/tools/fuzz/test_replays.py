"""What replays a campaign's violation (tools/fuzz/command.py replays):
a boot drawn from its seed alone is rerun by `--replay SEED`; a guided
boot, whose programs came from the corpus, has them written out with the
`ia32k run` command that boots them the same way."""

import random
import re
from pathlib import Path

from tools.fuzz import campaign, command, rounds, seams
from tools.fuzz.corpus import Drawer


def _record(spec, guided):
    return {"boot_seed": spec.boot_seed, "cpus": spec.cpus,
            "mode": spec.mode, "hostile": 0.35, "programs_per_boot": 8,
            "where": f"boot {spec.boot_seed}", "what": "x broke",
            "texts": spec.texts, **({"guided": True} if guided else {})}


def test_a_guided_boot_is_written_out_as_it_ran(monkeypatch, tmp_path):
    monkeypatch.setattr(command.tempfile, "mkdtemp",
                        lambda prefix: str(tmp_path / prefix))
    pool = [campaign.random_program(random.Random(i)) for i in range(3)]
    spec = Drawer(pool)(424242, 2)
    [(sig, how)] = command.replays([_record(spec, True)]).items()
    d = Path(re.match(r"cd (\S+) && ", how).group(1))
    assert d == tmp_path / "ia32k-fuzz-" / "1"
    for name, text in spec.texts.items():
        assert (d / f"{name}.s").read_text() == text + "\n"
    assert f"--quantum {spec.quantum} " in how and "--seed 424242 " in how
    assert "--cpus 2 " in how and sig == "x broke"


def test_a_boot_drawn_from_its_seed_is_replayed_by_it():
    mode = seams.Mode(True, "pae")
    spec = campaign.make_spec(77, 2, mode=mode)
    [how] = command.replays([_record(spec, False)]).values()
    assert how == ("python -m tools.fuzz --replay 77 --cpus 2 "
                   "--mode seams,pae")
    o, texts = campaign.replay(77, 2, mode)
    assert texts == spec.texts


def test_a_unit_marks_the_violations_of_boots_from_the_corpus():
    """Every boot leaks (a planted thief); the plain boots of a guided
    unit are drawn by the corpus Drawer, seam boots fresh from their seed
    or from the unit's own seam finds (marked, with how they started)."""
    def thief(k, secret):
        k.console.write(1, secret)
    pool = [campaign.random_program(random.Random(i)) for i in range(3)]
    unit = rounds.Unit(5, 96, None, 1, {"plant": thief, "seam_share": 0.8,
                                         "diff_share": 0}, True, 0, pool,
                       set())
    c = rounds.run_unit(None, unit).campaign
    seam = [v for v in c.violations if "--mode" in v["where"]]
    assert all(v.get("guided") for v in c.violations if v not in seam)
    fresh = [v for v in seam if not v.get("guided")]
    drawn = [v for v in seam if v.get("guided")]
    assert fresh and drawn
    for v in drawn:
        assert sorted(set(v["starts"])) == sorted(v["texts"])
        spec = campaign.spec_maker(v)(v["boot_seed"], v["cpus"], 8, 0.35,
                                      v["mode"])
        assert spec.names() == v["starts"] and spec.mode == v["mode"]
