"""The docs hold together: every relative link resolves, every quoted
`make X` is a Makefile target, every quoted `ia32k SUB --option` is one the
parser knows, docs/cli.md is the parser's own help, and the README stays a
front page.

`python -m tests.test_docs` rewrites docs/cli.md from the parser."""

import argparse
import os
import re
import unicodedata
from pathlib import Path

import pytest

from tools.cli.main import make_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI_MD = ROOT / "docs" / "cli.md"
README_MAX_LINES = 260
HELP_COLUMNS = "80"          # argparse wraps help to the terminal's width

FENCED = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
MAKE = re.compile(r"^\s*(?:\$\s+)?(?:\w+=\S*\s+)*make\s+([A-Za-z][\w-]*)")
IA32K = re.compile(r"(?:^|[\s/(])ia32k ([a-z][\w-]*)(?=\s|$)(.*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
SHELL_END = re.compile(r"\s(?:\|\|?|&&|#)\s|;")


# -- what the docs quote ---------------------------------------------------
def quoted(text):
    """The lines of every fenced or indented code block and every code
    span (whitespace in a span collapsed: spans may wrap)."""
    lines = []
    for block in FENCED.findall(text):
        lines += block.splitlines()[1:-1]
    prose = FENCED.sub("", text)
    lines += [ln for ln in prose.splitlines() if ln.startswith("    ")]
    lines += [" ".join(s.split()) for s in SPAN.findall(prose)]
    return lines


def links(text):
    return LINK.findall(FENCED.sub("", text))


def slug(heading):
    """A heading's anchor, as MkDocs (and, for plain headings, GitHub)
    makes it."""
    h = unicodedata.normalize("NFKD", heading.replace("`", ""))
    h = re.sub(r"[^\w\s-]", "", h.encode("ascii", "ignore").decode())
    return re.sub(r"[-\s]+", "-", h.strip().lower())


def anchors(path):
    return {slug(h) for h in HEADING.findall(FENCED.sub("", path.read_text()))}


def make_targets():
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def subcommands():
    """{name: set of its option strings}, from the parser itself."""
    ap = make_parser()
    sub = next(a for a in ap._actions
               if isinstance(a, argparse._SubParsersAction))
    return {name: set(p._option_string_actions)
            for name, p in sub.choices.items()}


# -- the CLI reference -------------------------------------------------------
def cli_markdown():
    """docs/cli.md: the help of `ia32k` and of each subcommand."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        ap = make_parser()
        sub = next(a for a in ap._actions
                   if isinstance(a, argparse._SubParsersAction))
        parts = ["# The `ia32k` command\n",
                 "Generated from the parser's own help by "
                 "`python -m tests.test_docs` (`tests/test_docs.py` checks "
                 "that it matches). Exit statuses are in "
                 "[Exit statuses](exit-statuses.md).\n",
                 "```\n" + ap.format_help() + "```\n"]
        for name, p in sub.choices.items():
            parts += [f"## `ia32k {name}`\n", "```\n" + p.format_help() + "```\n"]
        return "\n".join(parts)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


# -- the tests ---------------------------------------------------------------
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    broken = []
    for target in links(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    assert not broken, f"{doc.name}: broken links {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_quoted_make_targets_exist(doc):
    targets = make_targets()
    named = {m for line in quoted(doc.read_text())
             for m in MAKE.findall(line)}
    assert named <= targets, f"{doc.name}: no such target {named - targets}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_quoted_ia32k_commands_exist(doc):
    known = subcommands()
    wrong = []
    for line in quoted(doc.read_text()):
        for m in IA32K.finditer(line):
            name, rest = m.group(1), SHELL_END.split(m.group(2))[0]
            if name not in known:
                wrong.append(f"ia32k {name}")
                continue
            wrong += [f"ia32k {name} {o}" for o in OPTION.findall(rest)
                      if o not in known[name]]
    assert not wrong, f"{doc.name}: no such command or option {wrong}"


def test_readme_is_a_front_page():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n <= README_MAX_LINES


def test_cli_reference_is_the_parsers_help():
    assert CLI_MD.read_text() == cli_markdown(), \
        "docs/cli.md is stale: run python -m tests.test_docs"


def test_the_checks_see_what_they_check():
    text = "run `X=1 make nosuch` and\n```\n$ ia32k run --nosuch x\n```\n"
    assert MAKE.findall(quoted(text)[1]) == ["nosuch"]
    assert MAKE.findall("  --program P   make a program spawnable") == []
    m = IA32K.search(quoted(text)[0])
    assert m.group(1) == "run" and OPTION.findall(m.group(2)) == ["--nosuch"]
    assert slug("What NX catches") == "what-nx-catches"
    assert slug("The `ia32k` command") == "the-ia32k-command"


if __name__ == "__main__":
    CLI_MD.write_text(cli_markdown())
    print(f"wrote {CLI_MD.relative_to(ROOT)}")
