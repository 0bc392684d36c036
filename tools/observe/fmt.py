"""How every observer prints a run of physical frames and names what backs
a region: --maps, --dump-pt, the frame map, traces, the explorer and gdb's
`monitor` commands all use these."""

from emu.x86 import PAGE_SIZE
from kernel.mm.vm import RegionKind


def frame_run(pa, n=1):
    """'0x00012000' for one frame, '0x00012000-0x00014fff' for n from pa."""
    last = pa + n * PAGE_SIZE - 1
    return f"{pa:#010x}" + (f"-{last:#010x}" if n > 1 else "")


def segment_name(seg):
    """'shm N' for segment N ('shm' for a region made without one)."""
    sid = getattr(seg, "id", None)
    return "shm" if sid is None else f"shm {sid}"


def region_name(r):
    """What backs region r: 'image NAME', 'stack', or its segment's name."""
    if r.kind is RegionKind.SHM:
        return segment_name(r.obj)
    return f"{r.kind.value} {r.tag}".strip()
