"""Compile a C program freestanding for i386 with the userland library,
linked at 0x00400000, into an ELF the loader maps segment by segment."""

import hashlib
import os
import subprocess
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
        tmp.replace(out)
    return out


def first_error(path, text):
    """gcc's or ld's first error as one line (file:line:col: error: ...),
    with a count of the others; gcc's context lines are left out."""
    errors = [ln.strip() for ln in text.splitlines()
              if (": error:" in ln and not ln.startswith("collect2"))
              or "undefined reference" in ln]
    if not errors:
        rest = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return rest[0] if rest else f"{path}: gcc failed"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return errors[0] + more
