"""kernel/proc/loader.py: flat and ELF images, and PF_W per segment."""

import struct

import pytest

from emu.machine import Machine
from emu.x86 import PAGE_SIZE, PAGING_32, PTE_P, PTE_U, PTE_W
from kernel.mm.frames import Frames
from kernel.proc.loader import (ImageError, Segment, elf_image, flat_image,
                           image_from_bytes, load)
from kernel.memlayout import FIRST_FREE_PA, USER_IMAGE
from kernel.mm.vm import VM, AddressSpace, NoMemory, RegionKind

PF_X, PF_W, PF_R = 1, 2, 4


def make_elf(segs, entry=0x00400000, machine=3, phoff=52):
    """An ELF32 executable; segs: (vaddr, data, memsz, flags[, offset])."""
    n = len(segs)
    out = b"\x7fELF\x01\x01\x01" + bytes(9)
    out += struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, entry, phoff, 0, 0,
                       52, 32, n, 40, 0, 0)
    off, body = 52 + 32 * n, b""
    for va, data, memsz, flags, *at in segs:
        o = at[0] if at else off + len(body)
        out += struct.pack("<8I", 1, o, va, va, len(data), memsz, flags,
                           PAGE_SIZE)
        body += data
    return out + body


TEXT = (0x00400000, b"\x90" * 10, 10, PF_R | PF_X)
DATA = (0x00401100, b"DATA", 0x2000, PF_R | PF_W)        # with .bss


def test_flat_image_is_one_writable_segment():
    im = flat_image("f", b"\x90\xcc")
    assert (im.name, im.entry) == ("f", USER_IMAGE)
    assert im.segments == [Segment(USER_IMAGE, b"\x90\xcc", 2, True)]
    assert image_from_bytes("f", b"\x90").segments[0].writable
    with pytest.raises(ImageError):
        flat_image("f", b"")


def test_elf_segments_keep_pf_w():
    im = image_from_bytes("e", make_elf([TEXT, DATA], entry=0x00400004))
    assert im.entry == 0x00400004
    assert [(s.va, s.data, s.memsz, s.writable) for s in im.segments] == [
        (0x00400000, b"\x90" * 10, 10, False),
        (0x00401100, b"DATA", 0x2000, True)]


@pytest.mark.parametrize("data", [
    b"\x7fELF",
    b"\x7fELF\x01\x01",
    make_elf([TEXT], machine=0x3E),                       # x86-64
    make_elf([TEXT], phoff=0x100000),                     # headers missing
    make_elf([(0x00400000, b"\x90", 1, PF_R, 0x100000)]),  # data missing
    make_elf([(0x00400000, b"\x90" * 64, 8, PF_R)]),      # filesz > memsz
    make_elf([(0x0, b"\x90", 1, PF_R)]),                  # page 0
    make_elf([(0xBFFFF000, b"\x90", 0x2000, PF_R)]),      # into the kernel
    make_elf([(0xFFFFF000, b"\x90", 0x2000, PF_R)]),      # wraps
    make_elf([]),                                         # nothing to load
], ids=["magic", "truncated", "machine", "phoff", "offset", "filesz",
        "page0", "kernel", "wrap", "empty"])
def test_bad_elf_is_an_image_error(data):
    with pytest.raises(ImageError) as e:
        image_from_bytes("bad", data)
    assert str(e.value).startswith("bad: ")


@pytest.fixture
def vm():
    mem = 8 << 20
    hw = Machine(mem)
    return VM(hw, Frames(FIRST_FREE_PA, mem), bytes(1024), PAGING_32)


def test_load_maps_each_page_with_its_segment_rights(vm):
    a = AddressSpace(vm)
    load(a, elf_image("e", make_elf([TEXT, DATA])))
    rights = PTE_P | PTE_W | PTE_U
    assert a.pte(0x00400000) & rights == PTE_P | PTE_U
    for va in (0x00401000, 0x00402000, 0x00403000):
        assert a.pte(va) & rights == rights
    assert a.pte(0x00404000) == 0
    assert a.copyin(0x00400000, 11) == b"\x90" * 10 + b"\0"
    assert a.copyin(0x004010FC, 12) == b"\0\0\0\0DATA\0\0\0\0"
    assert a.copyin(0x00401104, 0x1FFC) == bytes(0x1FFC)       # .bss
    assert [(r.start, r.end, r.writable, r.kind) for r in a.regions] == [
        (0x00400000, 0x00401000, False, RegionKind.IMAGE),
        (0x00401000, 0x00404000, True, RegionKind.IMAGE)]


def test_a_page_two_segments_share_gets_both_rights(vm):
    a = AddressSpace(vm)
    ro = (0x00400000, b"R" * 0x10, 0x10, PF_R)
    rw = (0x00400800, b"W" * 0x10, 0x10, PF_R | PF_W)
    load(a, elf_image("e", make_elf([ro, rw])))
    assert a.pte(0x00400000) & PTE_W
    assert a.copyin(0x00400800, 0x10) == b"W" * 0x10
    assert a.copyin(0x00400000, 0x10) == b"R" * 0x10


def test_load_out_of_memory_leaks_nothing(vm):
    free = vm.frames.nfree
    a = AddressSpace(vm)
    big = (0x00400000, b"x", (vm.frames.nfree + 8) * PAGE_SIZE, PF_R | PF_W)
    with pytest.raises(NoMemory):
        load(a, elf_image("big", make_elf([big])))
    a.destroy()
    assert vm.frames.nfree == free


def test_writes_to_read_only_elf_segments_fault(run_userland):
    r = run_userland("elfperm")
    assert r.statuses == [0, 270, 270], r.stderr
    assert r.stdout == "elfperm: ok\n"
    image = r.kernel.programs.get("elfperm")
    for pid in (2, 3):
        f = r.proc(pid)["fault"]
        assert (f["vector"], f["error_code"]) == (14, 0x7)
        seg = next(s for s in image.segments
                   if s.va <= f["cr2"] < s.va + s.memsz)
        assert not seg.writable
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


def test_hand_built_elf_boots_with_read_only_text(tmp_path):
    from tests.conftest import boot
    from tools.toolchain.programs import Programs
    code = bytes.fromhex("c705040040000100000000")   # mov [0x400004], 1
    path = tmp_path / "rotext.bin"
    path.write_bytes(make_elf([(0x00400000, code, len(code), PF_R | PF_X)]))
    progs = Programs()
    progs.add(path)
    r = boot(progs, ["rotext"])
    f = r.proc(1)["fault"]
    assert r.statuses == [270]
    assert (f["eip"], f["cr2"], f["error_code"]) == (0x400000, 0x400004, 7)


def test_spawning_an_image_too_big_for_ram_leaks_nothing(tmp_path):
    from tests.conftest import boot
    from tools.toolchain.programs import Programs
    big = tmp_path / "big.bin"
    big.write_bytes(make_elf([(0x00400000, b"\x90", 16 << 20, PF_R | PF_W)]))
    spawner = tmp_path / "spawner.s"
    spawner.write_text("""
        lea ebx, [name]
        mov ecx, 3
        mov eax, SYS_SPAWN
        int 0x80
        mov ebx, eax
        mov eax, SYS_EXIT
        int 0x80
    name: .ascii "big"
    """)
    progs = Programs()
    progs.add(big)
    progs.add(spawner)
    r = boot(progs, ["spawner"], memory=8 << 20)
    assert r.statuses == [-12]                       # -ENOMEM
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]
