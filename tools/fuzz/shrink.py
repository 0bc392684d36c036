"""Violations made small and counted once: grouping by signature, delta
debugging of a violating boot, and ready-to-run files.

A signature is what a violation is, without the numbers that change from
boot to boot: the invariant's name, the guest check's message, or the
exception's type with the kernel location it was raised at. groups()
counts violations by signature, first one shown.

shrink() reruns a violating boot (tools/fuzz/campaign.py's violation record)
with fewer processes, then fewer items (the plain instructions and moves
between a program's `l{i}:` labels) in each program left, keeping each cut
while the boot still shows a violation of the same signature (ddmin, Zeller
and Hildebrandt 2002). save() writes what is left as .s files beside the
`ia32k run` command that replays it.
"""

import re
import shlex
import time
import traceback
from dataclasses import replace
from pathlib import Path

from tools.fuzz import differential, hostile, leak
from tools.toolchain.asm import BuildError

_INVARIANT = re.compile(r"invariant '([^']+)' broken")
_AT = re.compile(r"\[at ([^\]]+)\]")
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+")
_PID = re.compile(r"pid N \([^)]*\)")
_ITEM = re.compile(r"^l(\d+):$")


def signature(what):
    """What a violation text is, without the numbers of one boot."""
    at = _AT.search(what)
    where = f" at {at.group(1)}" if at else ""
    inv = _INVARIANT.search(what)
    if inv:
        return f"invariant {inv.group(1)}{where}"
    head = what.split(" [at ")[0]
    if head.startswith("differential "):
        head = head.split(" differ:")[0]
    head = _PID.sub("pid N", _NUMBER.sub("N", head))
    return (head[:120] + where).strip()


def location(e):
    """Where exception e was raised: the innermost frame in kernel/ (or
    emu/, else the innermost of all), as path:function."""
    frames = traceback.extract_tb(e.__traceback__)
    inner = [f for f in frames if re.search(r"(^|/)(kernel|emu)/", f.filename)]
    f = (inner or frames or [None])[-1]
    if f is None:
        return "?"
    path = re.sub(r"^.*?/(?=(kernel|emu|tools)/)", "", f.filename)
    return f"{path}:{f.name}"


def groups(violations):
    """[(signature, count, first violation record)], most frequent first."""
    seen = {}
    for v in violations:
        sig = signature(v["what"])
        n, first = seen.get(sig, (0, v))
        seen[sig] = (n + 1, first)
    return sorted(((s, n, v) for s, (n, v) in seen.items()),
                  key=lambda t: -t[1])


def ddmin(items, fails, budget):
    """A smallest-found sublist of items for which fails(sublist) holds
    (fails(items) must); budget() False stops early with the best so far."""
    n = 2
    while len(items) >= 2 and budget():
        chunk = -(-len(items) // n)
        parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        for k in range(len(parts)):
            rest = [x for j, p in enumerate(parts) if j != k for x in p]
            if budget() and fails(rest):
                items, n = rest, max(n - 1, 2)
                break
        else:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    return items


def split_items(text):
    """A program's lines as (head, [item lines], tail): item i is the
    lines after its label `l{i}:` up to the next item's label."""
    lines = text.splitlines()
    heads = [n for n, ln in enumerate(lines) if _ITEM.match(ln)]
    if not heads:
        return lines, [], []
    stop = lines.index("stop:") if "stop:" in lines else len(lines)
    bounds = heads + [stop]
    items = [lines[a:b] for a, b in zip(bounds, bounds[1:])]
    return lines[:heads[0]], items, lines[stop:]


def join_items(head, items, tail):
    """The program from split_items' parts; a removed item keeps its label
    (jumps from other items may name it)."""
    out = list(head)
    for item in items:
        out += item if len(item) > 1 or not item else item[:1]
    return "\n".join(out + tail)


class Shrinker:
    """Delta debugging of one violating boot, by its record."""

    def __init__(self, record, make_spec, run, seconds=120):
        self.record, self.make_spec, self.run = record, make_spec, run
        self.target = signature(record["what"])
        self.deadline = time.monotonic() + seconds
        self.runs = 0

    def budget(self):
        return time.monotonic() < self.deadline

    def spec(self):
        r = self.record
        return self.make_spec(r["boot_seed"], r["cpus"],
                              r.get("programs_per_boot", 8),
                              r.get("hostile", 0.35), r["mode"])

    def violates(self, spec):
        """spec still shows a violation of the target signature."""
        self.runs += 1
        found = self.run(spec, self.record.get("pair"))
        return any(signature(w) == self.target for w in found)

    def shrink(self):
        """The smallest spec found that still violates."""
        spec = self.spec()
        spec.starts = spec.names()
        starts = ddmin(list(range(len(spec.starts))),
                       lambda keep: self.violates(self._with_starts(
                           spec, keep)), self.budget)
        spec = self._with_starts(spec, starts)
        for name in sorted(set(spec.starts)):
            spec = self._shrink_program(spec, name)
        return spec

    def _with_starts(self, spec, keep):
        starts = [spec.starts[i] for i in keep]
        return replace(spec, starts=starts,
                       texts={n: spec.texts[n] for n in dict.fromkeys(starts)})

    def _shrink_program(self, spec, name):
        head, items, tail = split_items(spec.texts[name])
        cut = [[ln] for ln in (it[0] for it in items)]   # labels only

        def program(keep):
            return join_items(head, [items[i] if i in keep else cut[i]
                                     for i in range(len(items))], tail)

        def fails(keep):
            try:
                return self.violates(self._with_text(spec, name,
                                                     program(set(keep))))
            except BuildError:
                return False
        keep = ddmin(list(range(len(items))), fails, self.budget)
        return self._with_text(spec, name, program(set(keep)))

    def _with_text(self, spec, name, text):
        return spec.with_texts({name: text})


def runner(run_spec, recorder, watchdog, secret_va):
    """run(spec, pair) -> violation texts, as the campaign finds them."""
    def run(spec, pair):
        found = []
        with recorder(found):
            o = run_spec(spec, leak.new_secret())
            if pair:
                o.violations += differential.compare(spec, pair, watchdog,
                                                     secret_va)
        return o.violations + [f"secret leaked into {w}: {h}"
                               for w, h in o.hits] + found
    return run


def items_of(text):
    """How many items of a program are not cut."""
    return sum(1 for it in split_items(text)[1] if len(it) > 1)


def replay_command(spec, files):
    """The `ia32k run` command line that replays spec from files (names in
    start order after the canary; helpers as --program)."""
    starts = ["canary.s"] + [f"{n}.s" for n in spec.names()]
    helpers = [f"--program {h}.s" for h in hostile.HELPERS]
    opts = [f"--cpus {spec.cpus}", f"--seed {spec.boot_seed}",
            f"--quantum {spec.quantum}", "--check"] + spec.mode.options()
    return "python -m tools.cli run " + " ".join(
        [shlex.quote(s) for s in starts] + helpers + opts)


def save(spec, directory, what):
    """Write spec's programs as .s files into directory, with README.txt:
    the violation and the replay command (run from that directory)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "canary.s").write_text(hostile.CANARY)
    for name, text in hostile.HELPERS.items():
        (d / f"{name}.s").write_text(text)
    for name, text in spec.texts.items():
        (d / f"{name}.s").write_text(text + "\n")
    cmd = replay_command(spec, d)
    note = "" if spec.mode.debug is None else \
        "\n(found with the fuzzer's debugger client attached: " \
        f"tools.fuzz.debugclient.DebugFuzz, seed {spec.mode.debug})"
    (d / "README.txt").write_text(f"violation: {what}\nreplay: cd {d} && "
                                  f"{cmd}{note}\n")
    return cmd
