"""The race detector's compact shadow and its memory budget.

Per watched frame, an array of 1024 packed entries holds each word's last
whole-word aligned write, and (made on the frame's first read) a second
array holds the one whole-word aligned read since that write, when only
one thread has read it. A packed entry is epoch << 32 | site, where site
numbers an (actor, eip, write, cpu, program) tuple: 8 bytes per word and
kind instead of a dict entry per word. Words in any other state (bytes
accessed apart, several readers, eight-byte or unaligned accesses) keep
the detector's per-word dict form.

The budget bounds the host memory of both forms and of the sync words
together: past it, the shadow of whole frames is dropped (least recently
used first), and sync words past a quarter of it make the frames that
hold most of them coarse (every word a sync word, one clock for all such
frames); the count of dropped frames is kept for the report.
"""

from array import array

WORDS = 1024                     # 4-byte words per frame
SITE_MASK = (1 << 32) - 1
EPOCH_LIMIT = 1 << 32            # epochs from here on use the dict form
BUDGET = 32 << 20                # bytes of shadow kept at most
ARRAY_BYTES = 8 * WORDS + 80     # one array of a frame
FRAME_BYTES = 200 + ARRAY_BYTES  # a Frame, its dict entry and write array
ENTRY_BYTES = 400                # a word's entry in a dict of the dict form
ACCESS_BYTES = 200               # each Access or reader the entry holds
BYTES_BYTES = 256                # the four per-byte dicts of a read entry
SYNC_BYTES = 640                 # a sync word (its clock and acquirers)
COARSE_BYTES = 80                # a coarse frame (a set entry)
_ZEROS = bytes(8 * WORDS)


class Frame:
    """The compact shadow of one frame. special: some word of the frame
    is a sync word or in the dict form (the fast path looks there first);
    used: the detector's access count at its last use."""
    __slots__ = ("w", "r", "special", "used")

    def __init__(self, special, used):
        self.w = self.array()
        self.r = None
        self.special = special
        self.used = used

    @staticmethod
    def array():
        """1024 packed entries, all empty."""
        return array("Q", _ZEROS)


class Sites:
    """Interns (actor, eip, write, cpu, program): the low 32 bits of a
    packed entry."""

    def __init__(self):
        self.index = {}
        self.keys = [None]       # site 0: no entry

    def of(self, key):
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.keys)
            self.keys.append(key)
        return i


def word_index(word):
    """The index of word's entry in its frame's arrays."""
    return (word & 0xFFF) >> 2


def write_bytes(w):
    """The estimated bytes of a word's last write in the dict form (an
    Access, or one per byte)."""
    return ENTRY_BYTES + ACCESS_BYTES * (1 if w.__class__ is not list else 4)


def read_bytes(rs):
    """The estimated bytes of a word's reads in the dict form ({actor:
    Access}, or four such dicts, one per byte)."""
    if rs.__class__ is dict:
        return ENTRY_BYTES + ACCESS_BYTES * len(rs)
    return ENTRY_BYTES + BYTES_BYTES + ACCESS_BYTES * sum(map(len, rs))
