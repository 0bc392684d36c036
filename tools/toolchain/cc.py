"""Compile a C program freestanding for i386 with the userland library,
linked at 0x00400000, into an ELF the loader maps segment by segment."""

import hashlib
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from tools.toolchain.asm import BuildError
from tools.toolchain.gen_include import INCLUDE, generate

from tools import ROOT
LIB = ROOT / "userland" / "lib"
CACHE = ROOT / ".build"
CFLAGS = ["-m32", "-march=i686", "-ffreestanding", "-nostdlib", "-static",
          "-fno-pic", "-no-pie", "-O2", "-g", "-fno-stack-protector",
          "-fno-asynchronous-unwind-tables", "-fno-builtin",
          "-Wall", "-Wl,-Ttext-segment=0x00400000", "-Wl,--build-id=none",
          "-Wl,-e,_start",
          # link only the library functions a program uses
          "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections"]


def lib_sources():
    return sorted(LIB.glob("*.c")) + sorted(LIB.glob("*.S"))


def compile_c(path):
    """Build path (a .c file) and return the ELF bytes; cached by content."""
    return build_elf(path).read_bytes()


def build_elf(path):
    """Build path (a .c file, with debug information for gdb) and return
    the cached ELF's path; cached by content."""
    path = Path(path)
    generate()
    srcs = [path] + lib_sources()
    h = hashlib.sha256()
    for f in srcs + sorted(INCLUDE.glob("*.h")):
        h.update(f.name.encode() + f.read_bytes())
    h.update(" ".join(CFLAGS).encode())
    out = CACHE / f"{path.stem}-{h.hexdigest()[:16]}.elf"
    if not out.exists():
        CACHE.mkdir(exist_ok=True)
        # a name of its own per build: runs side by side (pytest-xdist,
        # `ia32k test --jobs`) may build the same program at once
        tmp = out.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        cmd = ["gcc", *CFLAGS, f"-I{INCLUDE}", "-o", str(tmp),
               *map(str, srcs)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(first_error(path, r.stderr))
        out.with_suffix(".warnings").write_text(r.stderr)
        tmp.replace(out)
    show_warnings(path, out)
    return out


_shown = set()
_ERROR = re.compile(r":\d+:(?:\d+:)? (?:fatal )?error: ")
_SCOPE = re.compile(r": (In function|At top level)")
_INCLUDED = re.compile(r"^(In file included|\s+) from ")
NO_LIBC = ("ia32k programs are freestanding: there is no C library; "
           'include "ia32k.h" (userland/include) for the system calls')


def show_warnings(path, elf):
    """gcc's warnings for the program at path, on stderr, once per
    process (they are kept beside the cached ELF, so a cached build shows
    them too); a warning never stops the build."""
    note = elf.with_suffix(".warnings")
    text = note.read_text() if note.exists() else ""
    if text.strip() and elf not in _shown:
        _shown.add(elf)
        sys.stderr.write(f"ia32k: {path}: gcc warnings:\n{text}")
        sys.stderr.flush()


def first_error(path, text):
    """gcc's or ld's first error (file:line:col: error: ..., fatal errors
    included) with gcc's context lines (the source line and its caret,
    the includes it came through), and a count of the others."""
    lines = text.splitlines()
    errors = [i for i, ln in enumerate(lines) if _is_error(ln)]
    if not errors:
        rest = [ln.strip() for ln in lines if ln.strip()]
        return rest[0] if rest else f"{path}: gcc failed"
    i = errors[0]
    block = [lines[i].strip()] + _context(lines, i)
    if len(errors) > 1:
        block.append(f"(and {len(errors) - 1} more errors)")
    if "fatal error:" in lines[i] and "No such file" in lines[i]:
        block.append(NO_LIBC)
    return "\n".join(block)


def _is_error(line):
    return (_ERROR.search(line) is not None
            and not line.startswith("collect2")) \
        or "undefined reference" in line


def _context(lines, i):
    """The caret lines after line i, then the include lines before it."""
    after = []
    for ln in lines[i + 1:]:
        if not ln.startswith(" ") or _INCLUDED.match(ln):
            break
        after.append(ln)
    before = []
    for ln in reversed(lines[:i]):
        if _SCOPE.search(ln):
            continue
        if not _INCLUDED.match(ln):
            break
        before.insert(0, ln.strip().rstrip(",:"))
    return after + before
