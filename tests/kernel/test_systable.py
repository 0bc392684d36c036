"""The system call table, docs/abi.md's table of every call and the
generated userland header say the same thing: the same numbers, the same
names. Calls the contract lists that the kernel does not implement yet are
named here and answer -ENOSYS, as every unknown number does."""

import re

from kernel.syscall import Errno, Sys
from kernel.systable import SYSCALLS
from tests.conftest import ROOT
from tools.toolchain.gen_include import INCLUDE, c_text

NOT_YET_IMPLEMENTED = {}
ROW = re.compile(r"^\| (\d+) \| `(\w+)\(.*?\)` \| (.*) \|$", re.M)
NOT_YET_TEXT = "not yet implemented (returns -ENOSYS)"


def doc_rows():
    """docs/abi.md's table: number -> (name, result text)."""
    text = (ROOT / "docs" / "abi.md").read_text()
    rows = {}
    for num, name, result in ROW.findall(text):
        assert int(num) not in rows, f"call {num} has two rows"
        rows[int(num)] = (name, result)
    return rows


def test_every_handler_has_a_row_and_every_row_a_handler():
    rows = doc_rows()
    assert set(rows) == set(SYSCALLS) | set(NOT_YET_IMPLEMENTED)
    assert not set(SYSCALLS) & set(NOT_YET_IMPLEMENTED)


def test_row_names_match_sys_and_the_handlers():
    for num, (name, result) in doc_rows().items():
        if num in NOT_YET_IMPLEMENTED:
            assert name == NOT_YET_IMPLEMENTED[num]
            assert result == NOT_YET_TEXT
            assert num not in Sys._value2member_map_
        else:
            assert name == Sys(num).name.lower()
            assert SYSCALLS[num].__name__ == f"sys_{name}"
            assert NOT_YET_TEXT not in result


def test_table_holds_every_sys_number_in_order():
    assert list(SYSCALLS) == sorted(SYSCALLS) == [int(s) for s in Sys]


def test_generated_header_agrees_with_the_table():
    header = (INCLUDE / "syscalls.h").read_text()
    assert header == c_text()
    defined = {int(v): n.lower() for n, v in
               re.findall(r"^#define SYS_(\w+) (\d+)$", header, re.M)}
    assert defined == {num: Sys(num).name.lower() for num in SYSCALLS}


UNKNOWN = (9, 17, 44)             # numbers no version of the ABI names


def test_calls_not_yet_implemented_return_enosys(run_sources):
    """Each program makes one call (one the ABI lists but the kernel does
    not implement, or one nobody names) and exits with its result."""
    calls = list(NOT_YET_IMPLEMENTED) + list(UNKNOWN)
    sources = {f"call{num}.s": f"""
        mov eax, {num}
        int 0x80
        mov ebx, eax
        mov eax, SYS_EXIT
        int 0x80
    """ for num in calls}
    r = run_sources(sources)
    assert r.statuses == [-Errno.ENOSYS] * len(calls)
