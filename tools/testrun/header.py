"""Expectation headers: the `expect:` lines in a program's first comment
block (`#` in assembly, `//` in C), parsed into an Expect."""

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

COMMENT = {".s": "#", ".asm": "#", ".c": "//"}
PAGING = ("32", "pae")
FLAGS = {"check": ["--check"], "races": ["--races"]}
VALUED = {"cpus": "--cpus", "seed": "--seed"}
ABSENT = "no such process"


class HeaderError(Exception):
    """A malformed header line: the message names file:line."""


@dataclass
class Expect:
    """What a program should do: statuses by pid (None: every process
    exits 0 unless a fault line names it; exit_listed: given as a list of
    pids 1..N, so no other pid may exist), stdout lines (None: unchecked),
    faults as {pid: (vector, error_code or None)}, the programs booted after
    it, extra `ia32k run` options, and its modes (None: the runner's)."""
    path: Path
    exit: dict = None
    stdout: list = None
    faults: dict = field(default_factory=dict)
    with_programs: list = field(default_factory=list)
    options: list = field(default_factory=list)
    modes: list = None
    exit_listed: bool = False

    def statuses(self, pids):
        """The status each of pids must end with (None: not checked;
        ABSENT: the pid must not exist, past the list of `exit 0 0`)."""
        if self.exit is not None:
            other = ABSENT if self.exit_listed else None
            return {pid: self.exit.get(pid, other) for pid in pids}
        return {pid: 256 + self.faults[pid][0] if pid in self.faults else 0
                for pid in pids}


def header_lines(path):
    """(line number, text after the comment marker) for each line of the
    first comment block of the file at path (blank lines before it skipped)."""
    mark = COMMENT.get(Path(path).suffix)
    if mark is None:
        return []
    lines = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if text.startswith(mark):
                lines.append((n, text[len(mark):].strip()))
            elif text or lines:
                break
    return lines


def parse_header(path):
    """The Expect of the program at path, or None when its first comment
    block has no `expect:` line; HeaderError for a malformed one."""
    expect = Expect(Path(path))
    found = False
    for n, text in header_lines(path):
        if not text.startswith("expect:"):
            continue
        found = True
        m = re.match(r"expect:\s*(\S+)\s?(.*)$", text)
        kind, rest = m.groups() if m else ("", "")
        parse = PARSERS.get(kind)
        if parse is None:
            raise HeaderError(f"{path}:{n}: unknown expectation {kind!r} "
                              f"(expected one of {', '.join(PARSERS)})")
        try:
            parse(expect, rest)
        except ValueError as e:
            raise HeaderError(f"{path}:{n}: expect: {kind}: {e}") from None
    return expect if found else None


def number(text, what):
    """An int from decimal or 0x hex text; ValueError naming what."""
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None


def parse_exit(expect, rest):
    """`exit 0 0` (pids 1..N in order) or `exit 1=0 2=270`."""
    words = rest.split()
    if not words:
        raise ValueError("expected statuses: `exit 0 0` or `exit 1=0 2=270`")
    if expect.exit is not None:
        raise ValueError("given twice")
    if all("=" in w for w in words):
        pairs = (w.split("=", 1) for w in words)
        expect.exit = {number(p, "pid"): number(s, "status") for p, s in pairs}
    elif any("=" in w for w in words):
        raise ValueError("mixes `S` and `PID=S` forms")
    else:
        expect.exit = {pid: number(w, "status")
                       for pid, w in enumerate(words, 1)}
        expect.exit_listed = True


def parse_stdout(expect, rest):
    """One more expected line of stdout; `\\n`, `\\t`, `\\\\` escapes."""
    text = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(
        m.group(1), m.group(1)), rest)
    expect.stdout = (expect.stdout or []) + [text]


def parse_fault(expect, rest):
    """`fault PID VECTOR [ERROR_CODE]`."""
    words = rest.split()
    if len(words) not in (2, 3):
        raise ValueError("expected PID VECTOR [ERROR_CODE]")
    pid, vector = number(words[0], "pid"), number(words[1], "vector")
    code = number(words[2], "error code") if len(words) == 3 else None
    if not 0 <= vector < 32:
        raise ValueError(f"vector {vector} is not a CPU exception (0-31)")
    expect.faults[pid] = (vector, code)


def parse_with(expect, rest):
    if not rest.split():
        raise ValueError("expected the programs started as pids 2..N")
    expect.with_programs += rest.split()


def parse_options(expect, rest):
    """More `ia32k run` options, split as a shell would (quotes kept
    together)."""
    expect.options += shlex.split(rest)


def parse_modes(expect, rest):
    expect.modes = split_modes(rest)


def split_modes(text):
    """The modes in text, separated by commas or spaces; ValueError for an
    unknown one or none."""
    modes = [check_mode(m) for m in re.split(r"[,\s]+", text) if m]
    if not modes:
        raise ValueError("expected at least one mode")
    return modes


def check_mode(mode):
    """mode itself when every `+`-joined part names a mode; ValueError
    otherwise."""
    mode_options(mode)
    return mode


def mode_options(mode):
    """The `ia32k run` options of a mode: `32`, `pae`, `cpus=N`, `seed=S`,
    `check`, `races`, or several joined by `+` (`pae+cpus=2`)."""
    opts = []
    for part in mode.split("+"):
        name, eq, value = part.partition("=")
        if part in PAGING:
            opts += ["--paging", part]
        elif part in FLAGS:
            opts += FLAGS[part]
        elif name in VALUED and eq:
            opts += [VALUED[name], str(number(value, name))]
        else:
            raise ValueError(f"unknown mode {part!r} (modes: 32, pae, "
                             "cpus=N, seed=S, check, races, joined by +)")
    return opts


PARSERS = {"exit": parse_exit, "stdout": parse_stdout, "fault": parse_fault,
           "with": parse_with, "options": parse_options,
           "modes": parse_modes}
