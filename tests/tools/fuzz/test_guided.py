"""The guided fuzzer: kernel coverage per boot (tools/fuzz/coverage.py), the
corpus and its mutants (tools/fuzz/corpus.py), campaigns in rounds
(tools/fuzz/rounds.py), the live progress (tools/fuzz/progress.py) and the
command's --json summary (tools/fuzz/command.py)."""

import io
import json
import random

from tools.fuzz import campaign as fz
from tools.fuzz import cluster, command, corpus, leak, progress, rounds
from tools.fuzz.coverage import KernelCoverage, kernel_statements
from tools.toolchain.programs import Images

GETPID = """
    mov eax, SYS_GETPID
    int 0x80
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
"""
SHM = """
    xor ebx, ebx
    mov ecx, 4096
    mov edx, 0x180
    mov eax, SYS_SHM_CREATE
    int 0x80
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
"""


def _boot(kc, text):
    spec = fz.make_spec(1, programs_per_boot=0)
    spec.texts["p"] = text
    spec.images.update(Images.assembled({"p": text}))
    with kc.measure():
        fz.run_spec(spec, leak.new_secret())
    return kc.fresh()


def _lines_of(fn):
    """(path, line) of every line of function fn's body."""
    import inspect
    import os
    from tools.fuzz.coverage import ROOT
    src, start = inspect.getsourcelines(fn)
    path = os.path.relpath(inspect.getsourcefile(fn), ROOT)
    return {(path, start + n) for n in range(1, len(src))}


def test_coverage_counts_the_kernel_lines_a_boot_reaches():
    from kernel.syscall import Sys
    from kernel.systable import SYSCALLS
    create = _lines_of(SYSCALLS[Sys.SHM_CREATE])
    kc = KernelCoverage()
    first = _boot(kc, GETPID)
    assert first and all(path.startswith("kernel/") for path, _ in first)
    assert len(first & kernel_statements()) > 100
    assert not first & create                   # no shm_create yet
    assert kc.fresh() == set()                  # nothing ran since
    shm = _boot(kc, SHM)
    assert shm & create                         # its lines, new
    assert not _boot(kc, SHM) & create          # seen: not fresh again


def test_split_and_join_give_the_program_back():
    text = fz.random_program(random.Random(3), targets=fz.fixed().targets)
    head, items, tail = corpus.split(text)
    assert [i for i, _ in items] == list(range(44))
    assert corpus.join(head, items, tail) == text


def test_a_mutated_program_is_a_valid_program():
    """Mutants assemble, differ from their parent, and boot with no
    violation and no syscall error docs/abi.md does not allow."""
    changed = 0
    for seed in range(12):
        rng = random.Random(seed)
        fx = fz.fixed()
        parent = fz.random_program(rng, targets=fx.targets)
        other = fz.random_program(rng, targets=fx.targets)
        child = corpus.mutate(parent, rng, [other], fx.targets)
        changed += child != parent
        spec = fz.make_spec(seed, programs_per_boot=0)
        spec.texts["m"] = child
        spec.images.update(Images.assembled({"m": child}))
        c = fz.Campaign()
        with fz._Recorder(c):
            o = fz.run_spec(spec, leak.new_secret())
        assert o.violations == [] and c.violations == [], (seed, o.violations)
    assert changed >= 10


def test_mutation_keeps_the_values_a_self_checking_item_checks():
    """An item that exits with a STALE status when it sees other than its
    own value keeps every immediate (a redrawn one made a program report
    code it did not write); a plain item's immediates are redrawn."""
    checked = ("l1:\n    mov eax, 0x13572468\n    cmp eax, 0x13572468\n"
               "    je c1\n    mov ebx, 0x5ec0de01\nc1:\n")
    text = "    nop\nl0:\n    mov eax, 0x5\n" + checked + "l2:\n"
    redrawn = 0
    for seed in range(200):
        child = corpus.mutate(text, random.Random(seed),
                              targets=fz.fixed().targets)
        _, items, _ = corpus.split(child)
        body = dict(items)[1]           # (or a fresh item in its place)
        assert body.count("0x13572468") in (0, 2), body
        redrawn += "mov eax, 0x5\n" not in dict(items)[0]
    assert redrawn > 0


def test_a_guided_campaign_grows_its_corpus():
    run = rounds.campaign(seed=11, cases=240, cpus=1,
                          executor=cluster.Inline(), per_round=1)
    assert run.total.violations == []
    assert run.total.cases >= 240
    assert len(run.corpus.entries) >= 3             # more than the first boot
    lines = run.corpus.lines()
    assert len(lines & kernel_statements()) > 500
    kinds = {f[0] for f in run.corpus.seen}
    assert kinds >= {"line", "errno"}
    assert all(len(e.texts) == 8 for e in run.corpus.entries)


def test_corpus_keeps_only_boots_with_something_new():
    c = corpus.Corpus()
    assert c.offer(["a"], {("line", "kernel/x.py", 1)})
    assert not c.offer(["b"], {("line", "kernel/x.py", 1)})
    assert c.offer(["c"], {("line", "kernel/x.py", 1), ("fault", 14)})
    assert [e.texts for e in c.entries] == [("a",), ("c",)]
    assert corpus.features([], [(3, -22)], [270, 0, 5]) == {
        ("errno", 3, -22), ("fault", 14)}


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_quiet_when_not_a_terminal():
    run = rounds.Run()
    run.workers["w1"] = [80, 2.0]
    out = io.StringIO()
    with progress.progress(out) as shown:
        shown.update(run)
    assert isinstance(shown, progress.Quiet) and out.getvalue() == ""
    tty = _Tty()
    with progress.progress(tty) as shown:
        shown.update(run)
    assert isinstance(shown, progress.Live)
    assert "w1" in tty.getvalue() and "40.0" in tty.getvalue()


def test_json_summary_parses(capsys):
    status = command.main(["--jobs", "0", "--cases", "16", "--seed", "4",
                           "--json"])
    s = json.loads(capsys.readouterr().out)
    assert status == 0 and s["violations"] == []
    assert s["programs"] >= 16 and s["mode"] == "guided"
    assert 0 < s["kernel_lines"] <= s["kernel_statements"]
    assert sum(w["programs"] for w in s["workers"].values()) == s["programs"]


def test_fast_assembly_gives_the_same_image():
    """tools/fuzz/assemble.py against assemble_source, for programs of one
    and of several code pages."""
    from tools.fuzz.assemble import assemble_program
    from tools.toolchain.asm import assemble_source
    for seed, length in ((1, 40), (2, 40), (3, 300)):
        text = fz.random_program(random.Random(seed), length=length,
                                 targets=fz.fixed().targets)
        assert assemble_program(text) == assemble_source(text)
    assert len(assemble_program(text)) > 3 * 4096        # several pages


def test_coverage_every_nth_boot_traces_fewer_boots():
    every = rounds.run_unit(None, rounds.Unit(5, 48, None, 1, {}, True, 1))
    fourth = rounds.run_unit(None, rounds.Unit(5, 48, None, 1, {}, True, 4))
    never = rounds.run_unit(None, rounds.Unit(5, 48, None, 1, {}, True, 0))

    def lines(part):
        return {f for e in part.found for f in e.found if f[0] == "line"}
    assert not lines(never) and lines(fourth) and lines(every)
    assert every.campaign.cases == fourth.campaign.cases == 48
