"""tools/race/segpages.py: the frame -> segment page map of --races, a
fixed size for the RAM whatever the guest shares."""

from types import SimpleNamespace

from tools.race.segpages import SegmentPages

MEMORY = 8 << 20


def test_frames_map_to_their_segment_page_until_the_segment_is_freed():
    m = SegmentPages(MEMORY)
    a = SimpleNamespace(id=1, frames=[0x10000, 0, 0x23000])
    b = SimpleNamespace(id=2, frames=[0x40000])
    m.set(0x10000, a, 0)
    m.set(0x23000, a, 2)
    m.set(0x40000, b, 0)
    assert m.get(0x23000) == (a, 2) and m.get(0x40000) == (b, 0)
    assert m.get(0x11000) is None and m.get(MEMORY + 0x1000) is None
    m.free(a)
    assert m.get(0x10000) is None and m.get(0x23000) is None
    assert m.get(0x40000) == (b, 0)


def test_the_map_does_not_grow_with_the_frames_it_holds():
    m = SegmentPages(MEMORY)
    before = (len(m.ids), len(m.pages))
    seg = SimpleNamespace(id=1, frames=[])
    for i, pa in enumerate(range(0, MEMORY, 4096)):
        m.set(pa, seg, i)
    assert (len(m.ids), len(m.pages)) == before == (MEMORY >> 12,) * 2
    assert m.get(MEMORY - 4096) == (seg, (MEMORY >> 12) - 1)
