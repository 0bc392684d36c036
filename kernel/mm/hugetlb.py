"""Large-page shared memory: segments created with SHM_HUGETLB (docs/abi.md).

Such a segment is built of the paging mode's large pages (4 MiB under
32-bit paging with CR4.PSE, 2 MiB under PAE). shm_create reserves them at
once: each is a physically contiguous, aligned run of 4 KiB frames from
the frame allocator (Frames.alloc_run), or the call fails with -ENOMEM.
Each large page is zero-filled on its first touch by any attacher; every
attacher's PDE for it is then a leaf (PS) naming the same run.

Accounting (what the invariant checker recounts): the segment holds one
reference on every 4 KiB frame of its runs from shm_create until it is
freed, and each attacher's leaf PDE holds one more reference on every 4 KiB
frame it covers, exactly as a PTE does on its one frame. So each frame of a
large page has count 1 + (attachers whose PDE is present), the same for all
its frames, and "refcount = entries + owners" stays one rule.
"""

from array import array

from emu.x86 import PAGE_SIZE, PTE_P, PTE_PS, PTE_U, PTE_W

SHM_HUGETLB = 0o4000


def round_size(size, mode):
    """size rounded up to whole large pages of mode."""
    big = mode.large_size
    return (size + big - 1) // big * big


def reserve(vm, size):
    """Take the aligned runs for size bytes of large pages; return every
    4 KiB frame in order (each with the segment's reference), or None,
    having kept nothing, when some run cannot be found."""
    mode = vm.mode
    runs = []
    for _ in range(size // mode.large_size):
        pa = vm.frames.alloc_run(mode.large_pages, mode.large_pages)
        if pa is None:
            for first in runs:
                vm.frames.decref_run(first, mode.large_pages)
            return None
        runs.append(pa)
    return array("I", [first + k * PAGE_SIZE for first in runs
                       for k in range(mode.large_pages)])


def first_frame(vm, seg, k):
    """The first 4 KiB frame of the segment's large page k."""
    return seg.frames[k * vm.mode.large_pages]


def take_leaf_refs(vm, first):
    """The references one leaf PDE owns: one on each frame it covers."""
    vm.frames.incref_run(first, vm.mode.large_pages)


def pager(vm, seg, region, va):
    """A not-present large page of an attachment: zero it on its first
    touch, take the new leaf's references, return its first frame."""
    k = (va - region.start) // vm.mode.large_size
    first = first_frame(vm, seg, k)
    if not seg.zeroed[k]:
        vm.hw.zero(first, vm.mode.large_size)
        seg.zeroed[k] = 1
        vm.forget_code()
    take_leaf_refs(vm, first)
    return first


def map_zeroed(vm, aspace, seg, region):
    """At attach: a leaf for every large page some attacher has touched."""
    flags = vm.leaf_flags(region.writable, region.executable)
    for k, done in enumerate(seg.zeroed):
        if done:
            first = first_frame(vm, seg, k)
            take_leaf_refs(vm, first)
            aspace.map_large(region.start + k * vm.mode.large_size, first,
                             flags)


def check_attachment(checker, vm, seg, a, aspace):
    """Every present leaf of the attachment names its large page, with the
    attachment's rights (or mprotect's), and only touched pages are
    present."""
    mode = vm.mode
    flags = vm.leaf_flags(not a.readonly, a.executable)
    bits = mode.addr_mask | PTE_P | PTE_W | PTE_U | mode.nx
    for k in range(len(seg.zeroed)):
        va = a.addr + k * mode.large_size
        e = aspace.pde(mode.dirx(va))
        if not e & PTE_P:
            continue
        want = first_frame(vm, seg, k) | aspace.rights(va, flags)
        if not e & PTE_PS or (e ^ want) & bits or not seg.zeroed[k]:
            checker.fail("large-page leaves match the segment",
                         f"pid {a.pid} va {va:#x} PDE {e:#x}, segment "
                         f"{seg.id} page {k} frame {want & ~0xFFF:#x}")
