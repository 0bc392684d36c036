"""Which page of which shared memory segment each physical frame holds,
for the race detector's reports: two arrays over all of RAM (8 bytes per
frame), so the map's size does not grow with what the guest shares."""

from array import array

from emu.x86 import PAGE_SHIFT


class SegmentPages:
    """frame -> (segment, page index), for frames of live segments."""

    def __init__(self, memory):
        n = memory >> PAGE_SHIFT
        self.ids = array("I", bytes(4 * n))     # segment id; 0: none
        self.pages = array("I", bytes(4 * n))
        self.segments = {}                      # id -> segment

    def set(self, pa, seg, page):
        i = pa >> PAGE_SHIFT
        self.ids[i], self.pages[i] = seg.id, page
        self.segments[seg.id] = seg

    def get(self, pa):
        """(segment, page index) of the frame at pa, or None."""
        i = pa >> PAGE_SHIFT
        seg = self.segments.get(self.ids[i]) if i < len(self.ids) else None
        return (seg, self.pages[i]) if seg is not None else None

    def free(self, seg):
        """seg's frames go back to the allocator."""
        for pa in seg.frames:
            if pa and self.ids[pa >> PAGE_SHIFT] == seg.id:
                self.ids[pa >> PAGE_SHIFT] = 0
        self.segments.pop(seg.id, None)
