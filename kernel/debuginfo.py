"""file:line for an instruction address, from a program's DWARF line table
(C programs built with -g; anything else has none)."""

import bisect
import io
import os

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile


class LineTable:
    """The DWARF line rows of one ELF file, sorted by address."""

    def __init__(self, elf_bytes):
        self.addrs, self.rows = [], []
        try:
            elf = ELFFile(io.BytesIO(elf_bytes))
            if not elf.has_dwarf_info():
                return
            # by address; at one address, a sequence's end first, then the
            # rows in the program's order (the last one is the innermost)
            rows = sorted(_rows(elf.get_dwarf_info()),
                          key=lambda r: (r[0], r[2] != 0))
        except (ELFError, ValueError, KeyError):
            return
        self.addrs = [a for a, _, _ in rows]
        self.rows = rows

    def line(self, addr):
        """'file.c:42' for the row covering addr, or None."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None
        a, name, line = self.rows[i]
        if i + 1 == len(self.rows) and addr > a + 64:   # past the table
            return None
        return f"{name}:{line}" if line else None


def _rows(dwarf):
    """(address, file base name, line) for every row of every CU; the rows
    that end a sequence carry line 0 (nothing after them is covered)."""
    for cu in dwarf.iter_CUs():
        prog = dwarf.line_program_for_CU(cu)
        if prog is None:
            continue
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
