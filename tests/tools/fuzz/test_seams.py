"""Seam boots (tools/fuzz/seams.py): a short campaign of them finds
nothing on a sound kernel, every seam move builds and runs, and each kind
of seam boot reports a defect planted in the kernel or a tool: large pages
zeroed again at every first touch, private code left stale after a
migration, a race log that is never drained, a debugger that takes EFLAGS
as given, futexes keyed by frame."""

import random

import pytest

from kernel.ipc import msg
from kernel.mm import hugetlb
from tools.debug import processes
from tools.fuzz import campaign as fuzz
from tools.fuzz import leak, planted, seams
from tools.fuzz.campaign import Campaign, _Recorder
from tools.race.watch import RaceWatch


def _seam_campaign(monkeypatch, mode, cpus, moves, boots, seed,
                   hostile=0.5):
    """boots seam boots of mode on cpus CPUs whose programs draw only
    moves (a share hostile of their items); the violations' texts."""
    monkeypatch.setattr(seams, "draw_mode", lambda rng, share: (mode, cpus))
    monkeypatch.setattr(seams.SeamWriter, "MOVES", moves)
    monkeypatch.setattr(seams.SeamWriter, "WEIGHTS", (1,) * len(moves))
    c = fuzz.fuzz(seed=seed, cases=4 * boots, cpus="mix",
                  programs_per_boot=4, hostile=hostile)
    assert c.boots == boots
    return [v["what"] for v in c.violations]


def test_seam_campaign_finds_nothing():
    """Seam boots only, on 1-3 CPUs, some under --races, PAE or a
    debugger: nothing wrong, and the seam moves' statuses appear."""
    c = fuzz.fuzz(seed=4242, cases=160, cpus="mix", seam_share=1.0)
    assert c.violations == [], c.violations[:5]
    assert len(c.statuses) > 5


def test_every_seam_move_assembles_and_runs():
    for name in seams.SeamWriter.MOVES[len(seams.hostile.Writer.MOVES):]:
        rng = random.Random(name)
        text = fuzz.random_program(rng, length=8,
                                   targets=fuzz.fixed().targets, hostile=1.0,
                                   writer=seams.writer_only(name))
        spec = fuzz.make_spec(1, cpus=2, programs_per_boot=0,
                              mode=seams.Mode(True))
        spec.texts["m"] = text
        spec.images.update(fuzz.Images.assembled({"m": text}))
        spec.starts = ["m", "m"]
        c = Campaign()
        with _Recorder(c):
            o = fuzz.run_spec(spec, leak.new_secret())
        assert o.violations == [] and c.violations == [], (name, o.violations)


def test_planted_large_page_rezeroing_is_found(monkeypatch):
    """A pager that zeroes a large page at every attachment's first touch
    (it forgets the segment's page was zeroed): the second attachment
    reads 0 where the first wrote, and the checker sees the segment's
    record disagree with the leaves, whichever comes first."""
    real = hugetlb.pager

    def forgetful(vm, seg, region, va):
        first = real(vm, seg, region, va)
        seg.zeroed[(va - region.start) // vm.mode.large_size] = 0
        return first
    monkeypatch.setattr(hugetlb, "pager", forgetful)
    found = _seam_campaign(monkeypatch, seams.Mode(True), 1,
                           ("huge_pages",), 3, 1)
    assert any("large page read back" in w or "large-page leaves" in w
               for w in found), found


def test_planted_stale_private_code_is_found(monkeypatch):
    """No CPU drops its code of private pages written on another CPU
    (tools/fuzz/planted.py's stale-code bug)."""
    with planted.BUGS["stale-code"].planted():
        found = _seam_campaign(monkeypatch, seams.Mode(True), 2,
                               ("code_private_yield", "code_after_fork"), 6,
                               2)
    assert any("code was not seen" in w for w in found), found


def test_planted_undrained_race_log_is_found(monkeypatch):
    """A race log whose full() does nothing: accesses are lost."""
    monkeypatch.setattr(RaceWatch, "_full", lambda self, cpu: lambda: None)
    found = _seam_campaign(monkeypatch, seams.Mode(True, races=True), 1,
                           ("shm_loop",), 2, 3, hostile=0.1)
    assert any("race log dropped" in w for w in found), found


def test_planted_unmasked_debugger_eflags_is_found(monkeypatch):
    """A debugger that writes EFLAGS as the client gives it."""
    monkeypatch.setattr(processes, "user_eflags", lambda old, new: new)
    found = _seam_campaign(monkeypatch, seams.Mode(True, debug=5), 1,
                           ("code_private_yield", "huge_pages"), 3, 4)
    assert any("vm86 or IOPL" in w for w in found), found


def test_planted_futex_keys_by_frame_are_found(monkeypatch):
    """Futexes keyed by physical word everywhere: processes of one program
    meet on the word of their shared text page."""
    real = msg.futex_key

    def by_frame(p, addr):
        found = real(p, addr)
        return found if isinstance(found, int) else (found[1], found[1])
    monkeypatch.setattr(msg, "futex_key", by_frame)
    found = _seam_campaign(monkeypatch, seams.Mode(True), 1,
                           ("futex_private",), 4, 5)
    assert any("woke another process" in w for w in found), found


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_debugger_client_acts_and_finds_nothing(paging):
    """The debugger client makes requests at stops and a sound debugger
    gives it nothing to report."""
    spec = fuzz.make_spec(7, cpus=2, mode=seams.Mode(True, paging, debug=9))
    c = Campaign()
    with _Recorder(c):
        o = fuzz.run_spec(spec, leak.new_secret())
    assert o.violations == [] and c.violations == []


def test_modes_read_back_from_their_text():
    for m in (seams.Mode(), seams.Mode(True), seams.Mode(True, "pae"),
              seams.Mode(True, "32", True, 12), seams.Mode(True, debug=0)):
        assert seams.Mode.parse(m.text()) == m
    with pytest.raises(ValueError):
        seams.Mode.parse("seams,turbo")


def test_replay_reruns_a_seam_boot_by_its_mode(capsys):
    mode = seams.Mode(True, "32", True, 3)
    assert fuzz.main(["--replay", "99", "--cpus", "3",
                      "--mode", mode.text()]) == 0
    out = capsys.readouterr().out
    assert fuzz.make_spec(99, 3, mode=mode).texts["rnd0"] in out
    assert "fword:" in out


def test_a_watchpoint_left_on_a_shared_text_frame_is_found(monkeypatch):
    """Watchpoints set on the frame a process reads, not on the copy its
    first store makes: the client's watch on a program's STEP word (in a
    page the text cache shares) never stops it."""
    from emu.walk import READ
    from tools.debug.points import Watchpoints
    monkeypatch.setattr(Watchpoints, "_frame", lambda self, pid, va, n:
                        self.memory.pages(pid, va, n, READ, key=True))
    found = _seam_campaign(monkeypatch, seams.Mode(True, debug=6), 1,
                           ("code_private_yield",), 2, 6)
    assert any("watchpoint" in w and "never stopped" in w
               for w in found), found
