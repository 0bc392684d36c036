"""The race detector's runtime: vector clocks, shadow memory and verdicts
(docs/abi.md, "watching the machine", --races).

Fed by two kinds of events and nothing else, so it can be tested on
synthetic streams: accesses (pid, physical address, size, read or write,
atomic or not) and happens-before edges between processes (spawn, exit ->
wait, a release carried to an acquire: send -> recv, futex_wake ->
futex_wait). tools.race.watch turns a running kernel into these events.

Clocks: each process p has a vector clock C_p (pid -> count); its epoch is
C_p[p]. An access by q at epoch e happens before p's current point iff
e <= C_p[q]. A release copies C_p out and then advances p's epoch; an
acquire joins a copy into C_p.

Shadow: per physical byte, the last write and the reads since it (one per
process), kept per 4-byte word while whole words are accessed: packed in
per-frame arrays while a word's accesses are aligned dwords with at most
one reader (tools.race.shadow), else in dicts. Two accesses race when they
touch one byte from different processes, at least one writes, and neither
happens before the other. The shadow stays within a memory budget: past
it the shadow of the least recently used frames is dropped, so a race
between an access before the drop and one after it goes unseen.

Synchronization words: a 4-byte aligned word that an atomic instruction
(lock prefix, xchg with memory) touches becomes a sync word: from then on
every write to it (atomic or plain) is a release into the word's clock and
every read an acquire from it, and it is never itself a race. A word can
become a sync word after plain accesses to it (memset of a header, say):
those earlier accesses keep the order they had (they synchronized nothing),
and any race already found on the word is withdrawn when its frame's life
ends or the run ends - "never itself a race" holds for the whole run.
"""

from collections import Counter
from dataclasses import dataclass, field, replace

from tools.race.shadow import (ARRAY_BYTES, BUDGET, COARSE_BYTES,
                               EPOCH_LIMIT, FRAME_BYTES, SITE_MASK,
                               SYNC_BYTES, WORDS, Frame, Sites, read_bytes,
                               word_index, write_bytes)

WORD = ~3
FRAME = ~0xFFF
AT_WORD = -1                     # Access.pa: the word whose shadow holds it
SHARED_MAX = 4096                # shared whole-word Accesses kept for reuse
COARSE_FRAME = Frame(True, 0)    # what _frame gives for a coarse frame


@dataclass(slots=True)
class Access:
    """One guest access as the shadow remembers it."""
    pid: int
    epoch: int
    eip: int
    write: bool
    pa: int                      # the first byte the access touched, or
                                 # AT_WORD: an aligned dword, shared by the
                                 # shadow of every word it stands for
    size: int
    cpu: int = 0
    program: str = ""            # the instruction's program (pairs' key)

    @property
    def kind(self):
        return "write" if self.write else "read"


@dataclass(slots=True)
class SyncWord:
    """A sync word's clock (what its writers released), and who has
    acquired it since its last write."""
    clock: dict = field(default_factory=dict)
    acquired: set = field(default_factory=set)


@dataclass
class Race:
    """A racing pair: a happened first, b found the conflict. byte is the
    physical byte both touched; va_a/va_b where each process saw it (the
    first byte of each access), filled in by the kernel side."""
    a: Access
    b: Access
    byte: int
    va_a: object = None
    va_b: object = None
    where: str = ""              # what the byte belongs to (a segment)
    count: int = 1               # how many conflicting pairs this stands for
    seq: int = 0                 # the order races were found in

    @property
    def key(self):
        return pair_key(self.a, self.b)


def pair_key(a, b):
    """A racing pair is reported once per pair of instructions."""
    return tuple(sorted(((a.program, a.eip), (b.program, b.eip))))


@dataclass
class Detector:
    """Clocks, shadow state, sync words and the races found."""
    located: object = None       # located(race): fills in va_a, va_b, where
    clocks: dict = field(default_factory=dict)      # pid -> {pid: int}
    exits: dict = field(default_factory=dict)       # pid -> clock at exit
    writes: dict = field(default_factory=dict)      # byte -> Access
    reads: dict = field(default_factory=dict)       # byte -> {pid: Access}
    sync: dict = field(default_factory=dict)        # word -> clock
    races: dict = field(default_factory=dict)       # pair key -> Race
    final: list = field(default_factory=list)       # withdrawn-checked races
    shared: dict = field(default_factory=dict)      # AT_WORD Accesses by who
    frames: dict = field(default_factory=dict)      # frame -> shadow.Frame
    sites: Sites = field(default_factory=Sites)     # packed entries' sites
    sync_frames: set = field(default_factory=set)   # frames with sync words
    budget: int = BUDGET         # bytes of shadow (tools.race.shadow)
    evicted: int = 0             # frames whose shadow the budget dropped
    read_arrays: int = 0         # frames with a read array
    dict_bytes: int = 0          # the dict form's size, as estimated
    coarse: set = field(default_factory=set)        # coarse sync frames
    coarse_sync: SyncWord = field(default_factory=SyncWord)
    found: int = 0
    accesses: int = 0
    sync_accesses: int = 0

    # -- happens-before edges ------------------------------------------
    def clock(self, pid):
        c = self.clocks.get(pid)
        if c is None:
            c = self.clocks[pid] = {pid: 1}
        return c

    def spawn(self, parent, child):
        """child's first instruction comes after everything parent did so
        far (parent None: a boot process, ordered after nothing)."""
        c = dict(self.release(parent)) if parent is not None else {}
        c[child] = c.get(child, 0) + 1
        self.clocks[child] = c

    def exit(self, pid):
        """pid ends: what it did is what a waiting parent will acquire."""
        self.exits[pid] = dict(self.clock(pid))

    def wait(self, parent, child):
        """parent reaped child: child's whole life happens before."""
        self.acquire(parent, self.exits.get(child))

    def release(self, pid):
        """A copy of pid's clock to carry (a message, a wake-up); pid's
        later accesses are not covered by it."""
        c = self.clock(pid)
        snap = dict(c)
        c[pid] += 1
        return snap

    def acquire(self, pid, snap):
        """Join a carried clock into pid's."""
        if snap:
            _join(self.clock(pid), snap)

    def wake(self, waker, sleeper):
        """futex_wake by waker ends sleeper's futex_wait."""
        self.acquire(sleeper, self.release(waker))

    # -- accesses --------------------------------------------------------
    def access(self, pid, pa, size, write, atomic=False, eip=0, cpu=0,
               program=""):
        """One guest access of size bytes at physical pa."""
        self.accesses += 1
        if size == 4 and not pa & 3 and not atomic:
            f = self.frames.get(pa & FRAME) or self._frame(pa & FRAME)
            if not f.special or not (self.is_sync(pa) or pa in self.writes
                                     or pa in self.reads):
                c = self.clocks.get(pid) or self.clock(pid)
                if c[pid] < EPOCH_LIMIT:
                    self._packed(c, pid, pa, write, eip, cpu, program, f)
                    return
        self._general(pid, pa, size, write, atomic, eip, cpu, program)

    def _general(self, pid, pa, size, write, atomic, eip, cpu, program):
        """An access in the dict form of the shadow, word by word."""
        word, end = pa & WORD, pa + size
        if atomic:
            for w in range(word, end, 4):
                self._make_sync(w)
        c = self.clocks.get(pid) or self.clock(pid)
        a = None
        while word < end:
            if self.is_sync(word):
                self._sync_access(pid, word, write)
                word += 4
                continue
            before = self._weight(word)
            self._spill(word)
            if pa <= word and end >= word + 4:
                a = self._whole(c, pid, word, write, a, eip, pa, size, cpu,
                                program)
            else:
                a = a or Access(pid, c[pid], eip, write, pa, size, cpu,
                                program)
                self._bytes(c, a, word, max(pa, word) - word,
                            min(end, word + 4) - word)
            self.dict_bytes += self._weight(word) - before
            word += 4
        if self._cost() > self.budget:
            self._evict()

    def is_sync(self, word):
        """Whether word is a sync word: one an atomic touched, or any word
        of a coarse frame."""
        return word in self.sync or word & FRAME in self.coarse

    def _sync_access(self, pid, word, write):
        """A release into, or an acquire from, the sync word's clock."""
        self.sync_accesses += 1
        s = self.sync.get(word) or self.coarse_sync
        if write:
            _join(s.clock, self.release(pid))
            s.acquired.clear()
        elif pid not in s.acquired:     # a spin loop's re-reads of an
            _join(self.clock(pid), s.clock)     # unchanged word: nothing new
            s.acquired.add(pid)

    def _make_sync(self, word):
        """word becomes a sync word: it leaves the shadow."""
        if word & FRAME in self.coarse:
            self._withdraw({word})
        elif word not in self.sync:
            self.sync[word] = SyncWord()
            self.sync_frames.add(word & FRAME)
            f = self.frames.get(word & FRAME)
            if f is not None:
                f.special = True
                f.w[word_index(word)] = 0
                if f.r is not None:
                    f.r[word_index(word)] = 0
            self.dict_bytes -= self._weight(word)
            self.writes.pop(word, None)
            self.reads.pop(word, None)

    # The compact form (tools.race.shadow): the same rules as _whole for a
    # word whose last write and single reader are aligned whole-word
    # accesses, on packed entries; a second reader moves the word to the
    # dict form.
    def _packed(self, c, pid, word, write, eip, cpu, program, f):
        """An aligned dword access of a word in the compact form."""
        f.used = self.accesses
        i, epoch, keys = word_index(word), c[pid], self.sites.keys
        wv, r = f.w[i], f.r
        rv = r[i] if r is not None else 0
        wk = keys[wv & SITE_MASK]
        own = wv and wk[0] == pid and wv >> 32 == epoch
        if not write:
            if own and not rv:
                return
            if rv and rv >> 32 == epoch and keys[rv & SITE_MASK][:2] == \
                    (pid, eip):
                return
        elif own and wk[1] == eip:
            if not rv:
                return
            if keys[rv & SITE_MASK][0] == pid:
                r[i] = 0                    # only its own read since
                return
        new = epoch << 32 | self.sites.of((pid, eip, write, cpu, program))
        if wv and wk[0] != pid and wv >> 32 > c.get(wk[0], 0):
            self._race(self._unpack(wv), self._unpack(new), word)
        if write:
            if rv:
                rpid = keys[rv & SITE_MASK][0]
                if rpid != pid and rv >> 32 > c.get(rpid, 0):
                    self._race(self._unpack(rv), self._unpack(new), word)
                r[i] = 0
            f.w[i] = new
        elif not rv:
            if r is None:
                r = self._read_array(f)
            r[i] = new
        elif keys[rv & SITE_MASK][0] == pid:
            r[i] = new
        else:
            self.reads[word] = {keys[rv & SITE_MASK][0]: self._unpack(rv),
                                pid: self._unpack(new)}
            r[i] = 0
            f.special = True
            self.dict_bytes += self._weight(word)

    def _unpack(self, v):
        """The Access a packed entry stands for."""
        pid, eip, write, cpu, program = self.sites.keys[v & SITE_MASK]
        return Access(pid, v >> 32, eip, write, AT_WORD, 4, cpu, program)

    def _spill(self, word):
        """word leaves the compact form for the dict form."""
        f = self.frames.get(word & FRAME) or self._frame(word & FRAME)
        f.special, f.used = True, self.accesses
        i = word_index(word)
        if f.w[i]:
            self.writes[word] = self._unpack(f.w[i])
            f.w[i] = 0
        if f.r is not None and f.r[i]:
            a = self._unpack(f.r[i])
            self.reads[word] = {a.pid: a}
            f.r[i] = 0

    # -- the budget --------------------------------------------------------
    def _frame(self, frame):
        """A new compact shadow for frame, within the budget (a coarse
        frame has none: every word of it is a sync word)."""
        if frame in self.coarse:
            return COARSE_FRAME
        if self._cost() + FRAME_BYTES > self.budget:
            self._evict()
        f = self.frames[frame] = Frame(frame in self.sync_frames,
                                       self.accesses)
        return f

    def _read_array(self, f):
        f.r = Frame.array()
        self.read_arrays += 1
        if self._cost() > self.budget:
            self._evict()
        return f.r

    def _cost(self):
        """The shadow's size in bytes, as tools.race.shadow estimates it."""
        return (len(self.frames) * FRAME_BYTES +
                self.read_arrays * ARRAY_BYTES +
                self.dict_bytes + len(self.sync) * SYNC_BYTES +
                len(self.coarse) * COARSE_BYTES)

    def _weight(self, word):
        """The estimated bytes of word's dict form."""
        w, rs = self.writes.get(word), self.reads.get(word)
        return ((write_bytes(w) if w is not None else 0) +
                (read_bytes(rs) if rs is not None else 0))

    def _evict(self):
        """Drop the shadow of the least recently used frames until a
        quarter of the budget is free. Sync words and the races found
        stay, but sync words past a quarter of the budget make their frames
        coarse first."""
        if len(self.sync) * SYNC_BYTES > self.budget // 4:
            self._coarsen()
        per = Counter()
        for k, w in self.writes.items():
            per[k & FRAME] += write_bytes(w)
        for k, rs in self.reads.items():
            per[k & FRAME] += read_bytes(rs)
        excess = self._cost() - self.budget * 3 // 4
        victims = set()
        for frame in sorted(self.frames, key=lambda f: self.frames[f].used):
            if excess <= 0:
                break
            f = self.frames.pop(frame)
            victims.add(frame)
            excess -= FRAME_BYTES + per[frame]
            if f.r is not None:
                self.read_arrays -= 1
                excess -= ARRAY_BYTES
        self._drop(victims)
        self.evicted += len(victims)

    def _coarsen(self):
        """Make the frames with the most sync words coarse until those
        left take an eighth of the budget: every word of a coarse frame is
        a sync word, and all coarse frames share one clock. Races on their
        sync words are withdrawn; their shadow is dropped."""
        per = Counter(k & FRAME for k in self.sync)
        left = len(self.sync)
        frames = set()
        for frame, n in per.most_common():
            if left * SYNC_BYTES <= self.budget // 8:
                break
            frames.add(frame)
            left -= n
        words = {k for k in self.sync if k & FRAME in frames}
        for k in words:
            _join(self.coarse_sync.clock, self.sync.pop(k).clock)
        self.coarse_sync.acquired.clear()
        self._withdraw(words)
        self._drop(frames)
        for frame in frames:
            f = self.frames.pop(frame, None)
            if f is not None and f.r is not None:
                self.read_arrays -= 1
        self.sync_frames -= frames
        self.coarse |= frames
        self.evicted += len(frames)

    def _withdraw(self, words):
        """Withdraw the races found on words (sync words now)."""
        for key in [k for k, r in self.races.items() if r.byte & WORD in
                    words]:
            del self.races[key]

    def _drop(self, frames):
        """Delete the dict form of every word in frames."""
        if frames:
            for k in {k for table in (self.writes, self.reads)
                      for k in table if k & FRAME in frames}:
                self.dict_bytes -= self._weight(k)
                self.writes.pop(k, None)
                self.reads.pop(k, None)

    # -- what the shadow holds, for tests and tools ------------------------
    def last_write(self, word):
        """word's last write: an Access, a list of four (per byte), or
        None."""
        f = self.frames.get(word & FRAME)
        v = f.w[word_index(word)] if f is not None else 0
        return self._unpack(v) if v else self.writes.get(word)

    def last_reads(self, word):
        """word's reads since its last write: {actor: Access}, a list of
        four such (per byte), or None."""
        f = self.frames.get(word & FRAME)
        v = f.r[word_index(word)] if f is not None and f.r is not None \
            else 0
        if v:
            a = self._unpack(v)
            return {a.pid: a}
        return self.reads.get(word)

    def shadow_words(self):
        """How many words have a last write in the shadow."""
        return len(self.writes) + sum(WORDS - f.w.count(0)
                                      for f in self.frames.values())

    # The shadow of a word: writes[word] is the Access that last wrote all
    # four bytes, or a list of four (one per byte, None if never written);
    # reads[word] is {pid: Access} for reads that covered all four bytes
    # since, or a list of four such dicts. Whole-word accesses (nearly all)
    # stay in the short form. As in ThreadSanitizer, an access that adds
    # nothing is skipped: a read of a word its process already read (same
    # instruction) or wrote in this epoch, a write it already made (same
    # instruction) with no other process's read since.
    def _whole(self, c, pid, word, write, a, *info):
        """An access of all four bytes of word; returns its Access."""
        epoch = c[pid]
        w, rs = self.writes.get(word), self.reads.get(word)
        own = w.__class__ is Access and w.pid == pid and w.epoch == epoch
        if not write:
            if own and rs is None:
                return a
            r = rs.get(pid) if rs.__class__ is dict else None
            if r is not None and r.epoch == epoch and r.eip == info[0]:
                return a
        elif own and w.eip == info[0]:
            if rs is None:
                return a
            if rs.__class__ is dict and len(rs) == 1 and pid in rs:
                del self.reads[word]        # only its own reads since
                return a
        a = a or self._whole_access(pid, epoch, write, *info)
        if w.__class__ is Access:
            if w.pid != pid and w.epoch > c.get(w.pid, 0):
                self._race(w, a, word)
        elif w is not None:
            self._check(c, a, word, w)
        if write:
            if rs.__class__ is dict:
                for r in rs.values():
                    if r.pid != pid and r.epoch > c.get(r.pid, 0):
                        self._race(r, a, word)
            elif rs is not None:
                self._check(c, a, word, rs, reads=True)
            if rs is not None:
                del self.reads[word]
            self.writes[word] = a
        elif rs is None:
            self.reads[word] = {pid: a}
        elif rs.__class__ is dict:
            rs[pid] = a
        else:
            for d in rs:
                d[pid] = a
        return a

    def _whole_access(self, pid, epoch, write, eip, pa, size, cpu, program):
        """The Access for a whole-word access. Aligned dwords (a loop over
        a buffer: one per word) share one AT_WORD Access per instruction
        and epoch, so the shadow of a big segment holds few objects."""
        if size != 4 or pa & 3:
            return Access(pid, epoch, eip, write, pa, size, cpu, program)
        key = (pid, epoch, eip, write, cpu, program)
        a = self.shared.get(key)
        if a is None:
            if len(self.shared) >= SHARED_MAX:
                self.shared.clear()
            a = self.shared[key] = Access(pid, epoch, eip, write, AT_WORD, 4,
                                          cpu, program)
        return a

    def _bytes(self, c, a, word, lo, hi):
        """An access of bytes lo..hi-1 of word: the per-byte form."""
        w, rs = self.writes.get(word), self.reads.get(word)
        if w.__class__ is Access:
            w = self.writes[word] = [w] * 4
        if rs.__class__ is dict:
            rs = self.reads[word] = [dict(rs) for _ in range(4)]
        if w is not None:
            self._check(c, a, word, w, lo, hi)
        if a.write:
            if rs is not None:
                self._check(c, a, word, rs, lo, hi, reads=True)
                for i in range(lo, hi):
                    rs[i] = {}
            if w is None:
                w = self.writes[word] = [None] * 4
            w[lo:hi] = [a] * (hi - lo)
        else:
            if rs is None:
                rs = self.reads[word] = [{} for _ in range(4)]
            for i in range(lo, hi):
                rs[i][a.pid] = a

    def _check(self, c, a, word, per_byte, lo=0, hi=4, reads=False):
        """Report a against each earlier access in per_byte[lo:hi] (Access
        or None; with reads, {pid: Access}) that conflicts and is not
        ordered before it; each earlier access once, at its first byte."""
        seen = set()
        for i in range(lo, hi):
            for x in (per_byte[i].values() if reads else (per_byte[i],)):
                if x is None or id(x) in seen:
                    continue
                seen.add(id(x))
                if x.pid != a.pid and x.epoch > c.get(x.pid, 0):
                    self._race(x, a, word + i)

    def _race(self, first, second, byte):
        key = pair_key(first, second)
        found = self.races.get(key)
        if found is not None:
            found.count += 1
            return
        race = Race(_at(first, byte), _at(second, byte), byte,
                    seq=self.found)
        self.found += 1
        if self.located:
            self.located(race)
        self.races[key] = race

    # -- frames come and go ---------------------------------------------
    def forget(self, frames):
        """The physical frames (a set of frame addresses) are about to be
        reused for something else: settle the races found there (withdraw
        those on sync words) and drop their shadow and sync words."""
        for key, race in list(self.races.items()):
            if race.byte & FRAME in frames:
                del self.races[key]
                if race.byte & WORD not in self.sync:
                    self.final.append(race)
        self._drop(frames)
        for k in [k for k in self.sync if k & FRAME in frames]:
            del self.sync[k]
        self.coarse -= frames
        for frame in frames:
            f = self.frames.pop(frame, None)
            if f is not None and f.r is not None:
                self.read_arrays -= 1
        self.sync_frames -= frames

    def verdicts(self):
        """Every race of the run, in the order found, none on a sync word."""
        live = [r for r in self.races.values()
                if r.byte & WORD not in self.sync]
        return sorted(self.final + live, key=lambda r: r.seq)


def _at(a, byte):
    """a with its own first byte, an AT_WORD Access placed at byte's word."""
    return replace(a, pa=byte & WORD) if a.pa == AT_WORD else a


def _join(into, other):
    """into := into joined with other (pointwise max)."""
    for pid, n in other.items():
        if into.get(pid, 0) < n:
            into[pid] = n
