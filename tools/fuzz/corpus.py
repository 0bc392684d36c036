"""The guided fuzzer's corpus: boots whose programs reached something no
earlier boot had (a kernel line, a (call, errno) pair, a fault kind), kept
as assembly text, and the programs drawn from it: a corpus program as it
is, or mutated (items replaced by fresh ones or by the same item of another
corpus program, deleted, immediates redrawn).

A program is a straight line of items, item i starting at its label
`l{i}:` (tools/fuzz/campaign.py random_program); every label an item uses
ends in its own index, so an item moved to the same index of another
program, or dropped, leaves a program that assembles and still ends."""

import random
import re

from kernel.proc.loader import flat_image
from kernel.trap import EXC_STATUS_BASE
from tools.fuzz import campaign
from tools.fuzz import hostile as hostile_mod
from tools.fuzz.assemble import assemble_program

ITEM = re.compile(r"^l(\d+):$", re.M)
IMMEDIATE = re.compile(r"^(    mov e[a-ds][xip], )(0x[0-9a-f]+)$", re.M)
FRESH = 0.5             # the share of a guided boot's programs drawn fresh
MUTATE = 0.7            # the share of corpus programs mutated before use
SHIPPED = 96            # corpus programs a unit draws from
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


class Corpus:
    """Entries (lists of program texts), how many new features each
    brought, and every feature seen so far."""

    def __init__(self):
        self.entries, self.weights = [], []
        self.seen = set()

    def offer(self, texts, found):
        """Keep texts if found holds a feature not seen before; return the
        features that were new."""
        new = set(found) - self.seen
        if new:
            self.entries.append(list(texts))
            self.weights.append(len(new))
            self.seen |= new
        return new

    def programs(self, rng=None, most=SHIPPED):
        """The corpus programs; with rng, most of them drawn with the
        weight of the entry they came from (an entry that brought more
        new features is drawn more often)."""
        found = [t for e in self.entries for t in e]
        if rng is None or not found:
            return found
        weights = [w for e, w in zip(self.entries, self.weights) for _ in e]
        return rng.choices(found, weights, k=most)

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


def _fresh_item(rng, i, head, targets, hostile):
    w = hostile_mod.Writer(rng, targets, _shm(head))
    campaign.random_item(w, rng, i, hostile)
    return "\n" + "\n".join(w.lines) + "\n"


def mutate(text, rng, others=(), targets=None, hostile=0.35):
    """A mutant of program text: one to three changes, each replacing an
    item by a fresh one or by the same item of another program in others,
    deleting an item, or redrawing one `mov reg, imm` immediate (never in
    an item that checks its own values)."""
    head, items, tail = split(text)
    real = [n for n, (i, body) in enumerate(items) if body.strip()] or [0]
    targets = targets or campaign.fixed().targets
    for _ in range(rng.randint(1, 3)):
        n = rng.choice(real)
        i, body = items[n]
        how = rng.randrange(4)
        if how == 0:
            body = _fresh_item(rng, i, head, targets, hostile)
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
    """Draws guided boots' specs (campaign.run_boot's maker): each program
    fresh, or from the corpus as it is, or mutated. Corpus programs keep
    their assembled images, so drawing one as it is costs no assembly
    (tools/fuzz/assemble.py assembles the others)."""

    def __init__(self, corpus_programs):
        self.pool = list(corpus_programs)
        self.images = {}
        self.last = None            # the texts of the last spec drawn

    def __call__(self, boot_seed, cpus=1, programs_per_boot=8, hostile=0.35,
                 mode=None):
        self.last = None
        if mode is not None and mode.seams:
            # seam boots are drawn fresh and stay out of the corpus: their
            # programs are not made of the items mutation cuts and splices
            return campaign.make_spec(boot_seed, cpus, programs_per_boot,
                                      hostile, mode)
        rng = random.Random(boot_seed)
        spec = campaign.make_spec(boot_seed, cpus, 0, hostile)
        fx = campaign.fixed()
        for n in range(programs_per_boot):
            name = f"rnd{n}"
            if not self.pool or rng.random() < FRESH:
                text = campaign.random_program(rng, targets=fx.targets,
                                               hostile=hostile)
            else:
                text = rng.choice(self.pool)
                if rng.random() < MUTATE:
                    text = mutate(text, rng, self.pool, fx.targets, hostile)
            spec.texts[name] = text
            spec.images[name] = self.image(name, text)
        self.last = spec.texts
        return spec

    def image(self, name, text):
        """text's flat image, assembled once per worker."""
        code = self.images.get(text)
        if code is None:
            if len(self.images) >= CACHE:
                self.images.pop(next(iter(self.images)))
            code = self.images[text] = assemble_program(text)
        return flat_image(name, code)
