"""file:line for an instruction address, from a program's DWARF line table
(C programs built with -g; anything else has none). Only the line program
of the compile unit that holds the address is decoded (found through
.debug_aranges), and tables are shared by every run in the process that
loads the same ELF."""

import bisect
import functools
import hashlib
import io
import os

from elftools.common.exceptions import DWARFError, ELFError
from elftools.elf.elffile import ELFFile

_ERRORS = (ELFError, DWARFError, ValueError, KeyError, IndexError,
           AttributeError)


def line_table(elf_bytes):
    """The LineTable of an ELF file's bytes (one per content)."""
    return _by_digest(hashlib.sha1(elf_bytes).digest(), elf_bytes)


@functools.lru_cache(maxsize=64)
def _by_digest(digest, elf_bytes):
    return LineTable(elf_bytes)


class LineTable:
    """The DWARF line rows of one ELF file, decoded one compile unit at a
    time as addresses ask for them."""

    def __init__(self, elf_bytes):
        self.dwarf, self.aranges, self.units = None, None, {}
        try:
            elf = ELFFile(io.BytesIO(elf_bytes))
            if elf.has_dwarf_info():
                self.dwarf = elf.get_dwarf_info()
                self.aranges = self.dwarf.get_aranges()
        except _ERRORS:
            self.dwarf = None

    def line(self, addr):
        """'file.c:42' for the row covering addr, or None."""
        if self.dwarf is None:
            return None
        try:
            addrs, rows = self._unit_rows(addr)
        except _ERRORS:
            return None
        i = bisect.bisect_right(addrs, addr) - 1
        if i < 0:
            return None
        _, name, line = rows[i]
        return f"{name}:{line}" if line else None

    def _unit_rows(self, addr):
        """(addresses, rows) of the compile unit holding addr (of every
        unit when the file has no .debug_aranges), decoded once."""
        offset = self.aranges.cu_offset_at_addr(addr) if self.aranges \
            else None
        if offset not in self.units:
            cus = [self.dwarf.get_CU_at(offset)] if offset is not None \
                else list(self.dwarf.iter_CUs())
            # by address; at one address, a sequence's end first, then the
            # rows in the program's order (the last one is the innermost)
            rows = sorted((r for cu in cus for r in _rows(self.dwarf, cu)),
                          key=lambda r: (r[0], r[2] != 0))
            self.units[offset] = ([r[0] for r in rows], rows)
        return self.units[offset]


def _rows(dwarf, cu):
    """(address, file base name, line) for every row of cu's line program;
    the rows that end a sequence carry line 0 (nothing after them)."""
    prog = dwarf.line_program_for_CU(cu)
    if prog is None:
        return
    files = prog["file_entry"]
    version = prog.header["version"]
    for entry in prog.get_entries():
        st = entry.state
        if st is None:
            continue
        if st.end_sequence:
            yield st.address, "", 0
            continue
        idx = st.file if version >= 5 else st.file - 1
        name = files[idx].name if 0 <= idx < len(files) else b"?"
        yield st.address, os.path.basename(name.decode(errors="replace")), \
            st.line


def program_line(programs, name, eip):
    """'file.c:42' for eip in the program called name (programs: the
    kernel's program table), or None (no such program, or no debug
    information: assembly and flat binaries)."""
    image = programs.get(name) if programs is not None and name else None
    elf = getattr(image, "elf", b"") or b""
    return line_table(elf).line(eip) if elf and eip is not None else None


class FaultLines:
    """An observer adding "line" (file:line of the faulting instruction)
    to the fault of a process killed by a CPU exception, when its program
    has debug information: the kernel's message, the report and the
    explorer then name it."""

    def __init__(self, k):
        self.k = k

    def on_fatal(self, p, fault):
        line = program_line(self.k.programs, p.name, fault["eip"])
        if line:
            fault["line"] = line
