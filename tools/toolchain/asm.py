"""Assemble an Intel-syntax program with keystone, at 0x00400000.

The dialect is keystone's Intel syntax, with `#` comments (asmcheck.py
says so in every error). The generated syscall constants (SYS_*, errno names) are always in scope,
and `.include "file"` is expanded (relative to the including file, then to
userland/include). Keystone's errors carry no line number, so on failure we
find the first line whose prefix of the program fails to assemble for a
reason other than a label defined further down.
"""

import re
from pathlib import Path

from keystone import (KS_ARCH_X86, KS_ERR_ASM_SYMBOL_MISSING, KS_MODE_32,
                      Ks, KsError)

from tools.toolchain.asmcheck import check_source, hint
from tools.toolchain.gen_include import INCLUDE, asm_text

BASE = 0x00400000
_INCLUDE = re.compile(r'^\s*\.include\s+"([^"]+)"\s*$')
_LABELS = re.compile(r"^\s*(?:[A-Za-z_.$][\w.$]*\s*:\s*)*")


class BuildError(Exception):
    """A program that does not build: the message names file and line."""


def assemble_file(path, base=BASE):
    path = Path(path)
    lines = expand(path, path.read_text().splitlines())
    return assemble_lines(lines, base)


def assemble_source(text, name="<source>", base=BASE):
    return assemble_lines(expand(Path(name), text.splitlines()), base)


def expand(path, lines, depth=0):
    """Expand .include lines; return (file, line number, text) triples."""
    out = []
    if depth == 0:
        out = [("<syscalls.inc>", i + 1, t)
               for i, t in enumerate(asm_text().splitlines())]
    for n, text in enumerate(lines, 1):
        m = _INCLUDE.match(text)
        if not m:
            out.append((str(path), n, text))
            continue
        inc = _find_include(path, m.group(1))
        if inc is None or depth > 8:
            raise BuildError(f"{path}:{n}: cannot include {m.group(1)!r}")
        out += expand(inc, inc.read_text().splitlines(), depth + 1)
    return out


def _find_include(path, name):
    for d in (path.parent, INCLUDE):
        if (d / name).is_file():
            return d / name
    return None


def assemble_lines(lines, base=BASE):
    """Assemble (file, line, text) triples to bytes, or raise BuildError."""
    ks = Ks(KS_ARCH_X86, KS_MODE_32)
    problem = check_source(ks, lines, base)
    if problem:
        raise BuildError(problem)
    try:
        code, _ = ks.asm("\n".join(t for _, _, t in lines), base,
                         as_bytes=True)
    except KsError as e:
        raise BuildError(_locate(ks, lines, base, e)) from None
    if code is None:
        raise BuildError(f"{lines[-1][0]}: no code assembled")
    return bytes(code)


def _locate(ks, lines, base, err):
    """file:line: message for the first line that breaks assembly."""
    for i in range(1, len(lines) + 1):
        try:
            ks.asm("\n".join(t for _, _, t in lines[:i]), base)
        except KsError as e:
            if e.errno != KS_ERR_ASM_SYMBOL_MISSING:
                f, n, t = lines[i - 1]
                return f"{f}:{n}: {e} in: {t.strip()} ({hint(t)})"
    texts = [t for _, _, t in lines]
    for i, (f, n, t) in enumerate(lines):   # a label never defined: the
        try:                                # line that builds without its
            ks.asm("\n".join(texts[:i] + [_LABELS.match(t).group(0)]
                             + texts[i + 1:]), base)    # statement
        except KsError:
            continue
        return f"{f}:{n}: {err}: a label never defined? in: {t.strip()}"
    f = lines[-1][0]
    return f"{f}: {err} (a label used but never defined?)"
