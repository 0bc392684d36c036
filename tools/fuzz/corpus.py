"""The guided fuzzer's corpus: boots whose programs reached something no
earlier boot had (a kernel line, a (call, errno) pair, a fault kind), kept
as assembly text with the mode and CPU count they ran in, and the boots
drawn from it. A plain boot's programs are each fresh, or a corpus
program as it is, or mutated (items replaced by fresh ones or by the same
item of another corpus program, deleted, immediates redrawn). A seam boot
(tools/fuzz/seams.py) is fresh, or a seam entry's programs rerun in the
entry's mode and CPU count, each as it is or mutated with seam moves.
Entries whose features few other entries reached are drawn more often.

A program is a straight line of items, item i starting at its label
`l{i}:` (tools/fuzz/campaign.py random_program); every label an item uses
ends in its own index, so an item moved to the same index of another
program, or dropped, leaves a program that assembles and still ends."""

import math
import random
import re
from collections import Counter
from dataclasses import dataclass

from kernel.proc.loader import flat_image
from kernel.trap import EXC_STATUS_BASE
from tools.fuzz import campaign
from tools.fuzz import hostile as hostile_mod
from tools.fuzz import seams
from tools.fuzz.assemble import assemble_program

ITEM = re.compile(r"^l(\d+):$", re.M)
IMMEDIATE = re.compile(r"^(    mov e[a-ds][xip], )(0x[0-9a-f]+)$", re.M)
FRESH = 0.5             # the share of a guided boot's programs drawn fresh
MUTATE = 0.7            # the share of corpus programs mutated before use
SHIPPED = 24            # entries of each kind (plain, seam) a unit draws from
CACHE = 512             # assembled corpus programs kept per worker


def features(lines, errors, statuses):
    """A boot's features: kernel lines, (call, errno) pairs and the fault
    kinds (vectors) its processes died of."""
    found = {("line",) + tuple(x) for x in lines}
    found |= {("errno",) + tuple(x) for x in errors}
    found |= {("fault", s - EXC_STATUS_BASE) for s in statuses
              if isinstance(s, int) and
              EXC_STATUS_BASE <= s < EXC_STATUS_BASE + 32}
    return found


@dataclass(frozen=True)
class Entry:
    """A boot's programs (texts), the mode and CPU count it ran in, and the
    features it reached."""
    texts: tuple
    mode: seams.Mode = seams.Mode()
    cpus: object = 1
    found: frozenset = frozenset()


class Corpus:
    """Entries, every feature seen so far, and how many offered boots
    reached each feature."""

    def __init__(self):
        self.entries = []
        self.seen = set()
        self.hits = Counter()

    def offer(self, texts, found, mode=seams.Mode(), cpus=1):
        """Keep texts (as an Entry) if found holds a feature not seen
        before; return the features that were new."""
        found = frozenset(found)
        self.hits.update(found)
        new = found - self.seen
        if new:
            self.entries.append(Entry(tuple(texts), mode, cpus, found))
            self.seen |= new
        return new

    def weight(self, entry):
        """1 plus the square root of the entry's rarity: the sum over its
        features of 1 / (offered boots that reached the feature), so a
        feature only this entry reached counts 1 and a common one little."""
        return 1 + math.sqrt(sum(1 / self.hits[f] for f in entry.found))

    def draw(self, rng, most=SHIPPED):
        """most plain and most seam entries (those there are), drawn with
        their weights, without their features (a unit needs only their
        programs, mode and CPUs)."""
        out = []
        for seam in (False, True):
            kind = [e for e in self.entries if e.mode.seams == seam]
            if kind:
                bare = [Entry(e.texts, e.mode, e.cpus) for e in kind]
                out += [bare[i] for i in rng.choices(
                    range(len(kind)), [self.weight(e) for e in kind],
                    k=most)]
        return out

    def lines(self):
        return {f[1:] for f in self.seen if f[0] == "line"}


def split(text):
    """(head, [(index, body lines)], tail) of a program's text."""
    marks = list(ITEM.finditer(text))
    head = text[:marks[0].start()] if marks else text
    items = []
    for m, nxt in zip(marks, marks[1:] + [None]):
        body = text[m.end():nxt.start() if nxt else len(text)]
        items.append((int(m.group(1)), body))
    if items:                       # the last empty item holds the tail
        i, body = items[-1]
        cut = body.find("\nstop:")
        items[-1], tail = (i, body[:cut]), body[cut:]
    else:
        tail = ""
    return head, items, tail


def join(head, items, tail):
    return head + "".join(f"l{i}:{body}" for i, body in items) + tail


def _shm(head):
    """(size, attachments) of the segment a program's prologue attaches,
    or None."""
    if "SYS_SHM_CREATE" not in head:
        return None
    size = int(re.search(r"mov ecx, (0x[0-9a-f]+)", head).group(1), 16)
    return size, head.count("SYS_SHM_ATTACH")


def _fresh_item(rng, i, head, targets, hostile, writer):
    w = writer(rng, targets, _shm(head))
    campaign.random_item(w, rng, i, hostile)
    return "\n" + "\n".join(w.lines) + "\n"


def mutate(text, rng, others=(), targets=None, hostile=0.35,
           writer=hostile_mod.Writer):
    """A mutant of program text: one to three changes, each replacing an
    item by a fresh one (writer's) or by the same item of another program
    in others, deleting an item, or redrawing one `mov reg, imm` immediate
    (never in an item that checks its own values)."""
    head, items, tail = split(text)
    real = [n for n, (i, body) in enumerate(items) if body.strip()] or [0]
    targets = targets or campaign.fixed().targets
    for _ in range(rng.randint(1, 3)):
        n = rng.choice(real)
        i, body = items[n]
        how = rng.randrange(4)
        if how == 0:
            body = _fresh_item(rng, i, head, targets, hostile, writer)
        elif how == 1 and others:
            _, theirs, _ = split(rng.choice(others))
            body = next((b for j, b in theirs if j == i), body)
        elif how == 2:
            body = "\n"
        elif not _self_checked(body):   # its own check names its values
            imms = list(IMMEDIATE.finditer(body))
            if imms:
                m = rng.choice(imms)
                body = (body[:m.start(2)] + f"{campaign._imm(rng):#x}"
                        + body[m.end(2):])
        items[n] = (i, body)
    return join(head, items, tail)


def _self_checked(body):
    """An item that checks what it sees against values it holds (exiting
    with a hostile.STALE status): redrawing one of its immediates would
    make it report a violation the kernel did not commit."""
    return any(f"{status:#x}" in body for status in hostile_mod.STALE)


class Drawer:
    """Draws guided boots' specs (campaign.run_boot's maker) from corpus
    entries (plain program texts count as plain entries); keep() adds a
    unit's own finds. Corpus programs keep their assembled images, so
    drawing one as it is costs no assembly (tools/fuzz/assemble.py
    assembles the others). After each draw: spec, the spec drawn; last,
    its texts (None for a seam boot drawn fresh, which its seed replays)."""

    def __init__(self, entries):
        self.entries = [e if isinstance(e, Entry) else Entry((e,))
                        for e in entries]
        self.images = {}
        self.last = self.spec = None

    def keep(self, entry):
        self.entries.append(entry)

    def __call__(self, boot_seed, cpus=1, programs_per_boot=8, hostile=0.35,
                 mode=None):
        self.last = self.spec = None
        rng = random.Random(boot_seed)
        seam = mode is not None and mode.seams
        pool = [e for e in self.entries if e.mode.seams == seam]
        if seam:
            spec = self._seam(rng, boot_seed, cpus, programs_per_boot,
                              hostile, mode, pool)
        else:
            spec = self._plain(rng, boot_seed, cpus, programs_per_boot,
                               hostile, pool)
        self.spec = spec
        return spec

    def _plain(self, rng, boot_seed, cpus, programs_per_boot, hostile, pool):
        spec = campaign.make_spec(boot_seed, cpus, 0, hostile)
        fx = campaign.fixed()
        others = [t for e in pool for t in e.texts]
        for n in range(programs_per_boot):
            if not pool or rng.random() < FRESH:
                text = campaign.random_program(rng, targets=fx.targets,
                                               hostile=hostile)
            else:
                text = rng.choice(rng.choice(pool).texts)
                if rng.random() < MUTATE:
                    text = mutate(text, rng, others, fx.targets, hostile)
            self._add(spec, f"rnd{n}", text)
        self.last = spec.texts
        return spec

    def _seam(self, rng, boot_seed, cpus, programs_per_boot, hostile, mode,
              pool):
        """A seam boot: fresh (as its seed draws it), or a seam entry's
        programs in the entry's mode on its CPUs, each mutated with seam
        moves or not, each started one to three times."""
        if not pool or rng.random() < FRESH:
            self.last = None
            return campaign.make_spec(boot_seed, cpus, programs_per_boot,
                                      hostile, mode)
        entry = rng.choice(pool)
        spec = campaign.make_spec(boot_seed, entry.cpus, 0, hostile,
                                  entry.mode)
        fx = campaign.fixed()
        others = [t for e in pool for t in e.texts]
        strong = max(hostile, seams.HOSTILE) if hostile else 0
        for n, text in enumerate(entry.texts):
            if rng.random() < MUTATE:
                text = mutate(text, rng, others, fx.targets, strong,
                              seams.SeamWriter)
            self._add(spec, f"rnd{n}", text)
        spec.starts = [n for n in spec.texts
                       for _ in range(rng.choice((1, 2, 3)))]
        self.last = spec.texts
        return spec

    def _add(self, spec, name, text):
        spec.texts[name] = text
        spec.images[name] = self.image(name, text)

    def image(self, name, text):
        """text's flat image, assembled once per worker."""
        code = self.images.get(text)
        if code is None:
            if len(self.images) >= CACHE:
                self.images.pop(next(iter(self.images)))
            code = self.images[text] = assemble_program(text)
        return flat_image(name, code)
