"""mprotect (docs/abi.md call 16): the access rights of a range of pages.
The rules live here; the PTE writes, the copy-on-write rule and the one
TLB shootdown per call in kernel.mm.vm (AddressSpace.protect)."""

from emu.x86 import PAGE_SIZE
from kernel.syscall import Errno

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def sys_mprotect(k, p, addr, length, prot, *_):
    """Checks, in order: alignment, length, prot bits, the range wholly
    mapped, whole large pages (-EINVAL); write on a read-only attachment or
    read-only program text (-EACCES)."""
    if addr & (PAGE_SIZE - 1) or not length or prot & ~7:
        return -Errno.EINVAL
    end = addr + length + PAGE_SIZE - 1 & ~(PAGE_SIZE - 1)
    pieces = covering(p.aspace, addr, end)
    if pieces is None:
        return -Errno.EINVAL
    if any(s & (r.page_size - 1) or e & (r.page_size - 1)
           for r, s, e in pieces):
        return -Errno.EINVAL
    if prot & PROT_WRITE and not all(r.writable for r, _, _ in pieces):
        return -Errno.EACCES
    if prot & (PROT_WRITE | PROT_EXEC):
        prot |= PROT_READ
    p.aspace.protect(pieces, prot)
    return 0


def covering(aspace, start, end):
    """[(region, from, to)] covering [start, end) in order, or None when
    some page of it is in no region."""
    if end > 1 << 32:
        return None
    pieces, va = [], start
    for r in aspace.regions:             # sorted by start
        if r.end <= va or r.start >= end:
            continue
        if r.start > va:
            return None
        pieces.append((r, va, min(r.end, end)))
        va = min(r.end, end)
    return pieces if va >= end else None
