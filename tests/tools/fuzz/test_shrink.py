"""Shrinking and grouping (tools/fuzz/shrink.py): violations group by a
signature without the numbers of one boot; a planted violation found in an
eight-program boot shrinks to one process and few items, saved as .s
files with an `ia32k run` command that runs them."""

import os
import shlex

from kernel.syscall import Sys
from kernel.systable import SYSCALLS
from tools.cli.main import main as ia32k
from tools.fuzz import campaign as fuzz
from tools.fuzz import shrink


def test_signatures_drop_what_changes_between_boots():
    a = "pid 4 (rnd2): shm_stat wrote code the CPU did not see"
    b = "pid 11 (rnd7): shm_stat wrote code the CPU did not see"
    assert shrink.signature(a) == shrink.signature(b)
    inv = ("InvariantViolation: invariant 'refcount = PTEs + owners' broken:"
           " frame 0x1234 [at kernel/mm/vm.py:unmap]")
    assert shrink.signature(inv) == \
        "invariant refcount = PTEs + owners at kernel/mm/vm.py:unmap"
    assert shrink.signature("KeyError: 5 [at kernel/ipc/msg.py:send]") != \
        shrink.signature("KeyError: 5 [at kernel/ipc/shm.py:attach]")
    vs = [{"what": a}, {"what": inv}, {"what": b}]
    assert [(s, n) for s, n, _ in shrink.groups(vs)] == [
        (shrink.signature(a), 2), (shrink.signature(inv), 1)]


def test_ddmin_finds_a_smallest_failing_subset():
    calls = []

    def fails(xs):
        calls.append(1)
        return 3 in xs and 11 in xs
    assert sorted(shrink.ddmin(list(range(16)), fails, lambda: True)) == \
        [3, 11]
    assert len(calls) < 60


def test_split_and_join_keep_every_label():
    text = fuzz.random_program(__import__("random").Random(3),
                               targets=fuzz.fixed().targets)
    head, items, tail = shrink.split_items(text)
    assert shrink.join_items(head, items, tail) == text
    cut = [it[:1] for it in items]
    small = shrink.join_items(head, cut, tail)
    assert all(f"l{i}:" in small.splitlines() for i in range(len(items)))
    assert shrink.items_of(small) == 0 < shrink.items_of(text)


def test_a_planted_violation_shrinks_to_one_process(monkeypatch, tmp_path):
    """A kernel whose yield fails with -EINVAL for every process but the
    canary: one program's one yield is enough to show it."""
    real = SYSCALLS[int(Sys.YIELD)]
    monkeypatch.setitem(SYSCALLS, int(Sys.YIELD), lambda k, p, *a:
                        -22 if p.pid != 1 else real(k, p, *a))
    for seed in range(8, 40):           # the first boot that yields
        c = fuzz.fuzz(seed=seed, cases=8, seam_share=0, diff_share=0)
        if c.violations:
            break
    (sig, n, first), *_ = shrink.groups(c.violations)
    assert sig == "call YIELD returned -N, not allowed"
    before = fuzz.make_spec(first["boot_seed"], first["cpus"])
    spec = fuzz.minimise(first, seconds=600)
    assert len(before.names()) == 8 and len(spec.names()) == 1
    name, = spec.names()
    assert shrink.items_of(spec.texts[name]) < \
        shrink.items_of(before.texts[name])
    assert shrink.items_of(spec.texts[name]) <= 2
    cmd = shrink.save(spec, tmp_path, first["what"])
    assert (tmp_path / f"{name}.s").exists()
    assert f"{name}.s" in cmd and "--check" in cmd
    assert "call YIELD" in (tmp_path / "README.txt").read_text()
    args = shlex.split(cmd)[4:]          # after `python -m tools.cli run`
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = ia32k(["run"] + args)
    finally:
        os.chdir(here)
    assert status in (0, 1)


def test_the_command_shows_each_kind_once_and_saves_it_shrunk(
        monkeypatch, tmp_path, capsys):
    real = SYSCALLS[int(Sys.YIELD)]
    monkeypatch.setitem(SYSCALLS, int(Sys.YIELD), lambda k, p, *a:
                        -22 if p.pid != 1 else real(k, p, *a))
    assert fuzz.main(["--seed", "8", "--cases", "16", "--jobs", "0",
                      "--seam-share", "0", "--pair-share", "0",
                      "--save", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("call YIELD returned -N, not allowed") == 2  # kind, save
    assert "kind 1 (call YIELD" in out and "1 process(es)" in out
    assert "python -m tools.cli run canary.s" in \
        (tmp_path / "1" / "README.txt").read_text()
    assert not (tmp_path / "2").exists()
