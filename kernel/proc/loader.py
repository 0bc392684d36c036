"""Program images: flat binaries and ELF files, loaded into a fresh
address space as docs/abi.md says (flat: read-write at 0x00400000; ELF: each
PT_LOAD segment at p_vaddr, read-only unless PF_W)."""

import io
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from emu.x86 import PAGE_SIZE, pgrounddown, pgroundup
from kernel.memlayout import USER_IMAGE, USER_LOW, USTACK_BASE
from kernel.mm.vm import NoMemory, Region, RegionKind


class ImageError(Exception):
    """A program file that cannot be loaded."""


@dataclass
class Segment:
    va: int
    data: bytes
    memsz: int
    writable: bool
    executable: bool = True


@dataclass
class Image:
    name: str
    entry: int
    segments: list = field(default_factory=list)
    elf: bytes = b""             # the ELF file, for its debug info


def flat_image(name, data):
    """A flat binary: one read-write segment at USER_IMAGE, entry there."""
    if not data:
        raise ImageError(f"{name}: empty image")
    return Image(name, USER_IMAGE, [Segment(USER_IMAGE, bytes(data),
                                            len(data), True)])


def elf_image(name, data):
    """An i386 ELF executable's PT_LOAD segments."""
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != "EM_386" or elf.elfclass != 32:
            raise ImageError(f"{name}: not an i386 ELF32 executable")
        segs = [_segment(name, s) for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_memsz"] > 0]
    except ELFError as e:
        raise ImageError(f"{name}: bad ELF: {e}") from e
    for s in segs:
        if s.va < USER_LOW or s.va + s.memsz > USTACK_BASE:
            raise ImageError(f"{name}: segment at {s.va:#x} outside user space")
    if not segs:
        raise ImageError(f"{name}: no PT_LOAD segment")
    return Image(name, elf["e_entry"], segs, bytes(data))


def _segment(name, s):
    """One PT_LOAD segment; its file bytes must lie in the file and fit
    in its memory size."""
    data = s.data()
    if len(data) != s["p_filesz"] or s["p_filesz"] > s["p_memsz"]:
        raise ImageError(f"{name}: segment at {s['p_vaddr']:#x}: file size "
                         f"{s['p_filesz']:#x} does not fit")
    return Segment(s["p_vaddr"], data, s["p_memsz"],
                   bool(s["p_flags"] & P_FLAGS.PF_W),
                   bool(s["p_flags"] & P_FLAGS.PF_X))


def image_from_bytes(name, data):
    return elf_image(name, data) if data[:4] == b"\x7fELF" else \
        flat_image(name, data)


def load(aspace, image):
    """Map image's segments into aspace in frames of its own (the kernel
    shares images between processes through kernel.mm.textcache instead); a
    page two segments share gets the union of their permissions (a segment
    without PF_X is no-execute where the paging mode has NX). Raises
    NoMemory (the caller destroys the half-built address space, which owns
    every frame mapped so far)."""
    vm = aspace.vm
    perms = page_perms(image, vm.mode.nx)
    for start, end, (w, x) in page_runs(perms):  # first: destroy() unmaps
        # them and the trace names them
        aspace.add_region(Region(start, end, w, RegionKind.IMAGE,
                                 tag=image.name, executable=x))
    for page, (w, x) in sorted(perms.items()):
        pa = vm.alloc_zeroed()
        fill_page(vm.hw, image, page, pa)
        try:
            aspace.map_pages(page, [pa], vm.leaf_flags(w, x))
        except NoMemory:
            vm.frames.decref(pa)
            raise


def page_perms(image, nx=0):
    """page -> (writable, executable) for every page the image's segments
    cover: the union over the segments in it. A segment without PF_X is
    not executable when the paging mode has an NX bit (nx); without one,
    everything is."""
    perms = {}
    for s in image.segments:
        for page in range(pgrounddown(s.va), pgroundup(s.va + s.memsz),
                          PAGE_SIZE):
            w, x = perms.get(page, (False, False))
            perms[page] = (w or s.writable, x or s.executable or not nx)
    return perms


def page_runs(perms):
    """Merge pages into maximal runs of contiguous pages of one permission:
    [start, end, (writable, executable)]."""
    runs = []
    for page, w in sorted(perms.items()):
        if runs and runs[-1][1] == page and runs[-1][2] == w:
            runs[-1][1] = page + PAGE_SIZE
        else:
            runs.append([page, page + PAGE_SIZE, w])
    return runs


def has_file_bytes(image, page):
    """True when some segment's file bytes fall in page (else it is .bss
    only: all zeros)."""
    return any(max(page, s.va) < min(page + PAGE_SIZE, s.va + len(s.data))
               for s in image.segments)


def fill_page(hw, image, page, pa):
    """Copy every segment's file bytes that fall in page into frame pa."""
    for s in image.segments:
        lo = max(page, s.va)
        hi = min(page + PAGE_SIZE, s.va + len(s.data))
        if lo < hi:
            hw.write(pa + (lo - page), s.data[lo - s.va:hi - s.va])


__all__ = ["Image", "ImageError", "NoMemory", "elf_image", "fill_page",
           "flat_image", "has_file_bytes", "image_from_bytes", "load",
           "page_perms", "page_runs"]
