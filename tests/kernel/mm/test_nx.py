"""No-execute pages (docs/abi.md, "paging modes"): under --paging pae a fetch
from the stack, from a shm attachment made without SHM_EXEC, or from an
ELF segment without PF_X is a page fault (status 270, error code with the
I/D bit, CR2 = EIP = the target); the same programs run under --paging 32,
which has no NX bit. Code in the image and in SHM_EXEC attachments runs in
both modes."""

import pytest

from emu import x86
from emu.x86 import Vector

# Each program runs `xor eax, eax ; xor ebx, ebx ; int 0x80` (exit(0))
# from somewhere other than its image.
CODE = """
    mov dword ptr [{at}], 0xDB31C031   # xor eax,eax ; xor ebx,ebx
    mov dword ptr [{at} + 4], 0x80CD   # int 0x80
"""
STACK = """
    sub esp, 16
""" + CODE.format(at="esp") + """
    jmp esp
"""
SHM = """
    mov eax, SYS_SHM_CREATE
    mov ebx, 0
    mov ecx, 8192
    mov edx, 0x180
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0
    mov edx, {flags}
    int 0x80
    add eax, 0x1000
""" + CODE.format(at="eax") + """
    jmp eax
"""
ELF_DATA = r"""
#include "ia32k.h"
static unsigned char code[] = {0x31, 0xc0, 0x31, 0xdb, 0xcd, 0x80};
int main(int arg)
{
    ((void (*)(void))code)();
    return 3;
}
"""
NX_FETCH = x86.PF_P | x86.PF_U | x86.PF_I


def cases():
    return {"stack": ("nxstack.s", STACK),
            "shm": ("nxshm.s", SHM.format(flags=0)),
            "elf_data": ("nxdata.c", ELF_DATA)}


@pytest.mark.parametrize("case", ["stack", "shm", "elf_data"])
def test_fetch_from_no_execute_page_faults_under_pae(run_sources, case):
    fname, src = cases()[case]
    r = run_sources({fname: src}, paging="pae")
    assert r.statuses == [270], r.stderr
    fault = r.proc(1)["fault"]
    assert fault["vector"] == Vector.PAGE_FAULT
    assert fault["error_code"] == NX_FETCH
    assert fault["cr2"] == fault["eip"]
    assert "fetch" in r.stderr


@pytest.mark.parametrize("case", ["stack", "shm", "elf_data"])
def test_same_fetch_runs_under_32bit_paging(run_sources, case):
    fname, src = cases()[case]
    r = run_sources({fname: src}, paging="32")
    assert r.statuses == [0], r.stderr


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_shm_exec_attachment_runs_in_both_modes(run_sources, paging):
    r = run_sources({"xshm.s": SHM.format(flags=2)}, paging=paging)
    assert r.statuses == [0], r.stderr
