"""Shared program text: a small page cache keyed by program image.

A program's pages that hold file bytes are loaded once into frames of the
cache's own (one reference each), and every process running the program
maps those frames: read-only pages read-only, writable pages copy-on-write
(kernel.mm.vm), so its first write copies the page and the cached frame stays
as loaded. Pages that are .bss only get private zeroed frames at spawn (so spawn
says -ENOMEM for an image RAM cannot hold).

Lifetime: a program's frames go when the last address space mapping them
is destroyed (every image region counts as one user; fork's copy of a region
is one more); the next spawn of the program loads it again. Frames free at
the end of a run therefore equal frames free at boot with no extra step.
"""

from dataclasses import dataclass

from emu.x86 import PAGE_SIZE, PTE_COW
from kernel.mm.frames import merge_runs
from kernel.proc.loader import fill_page, has_file_bytes, page_perms, page_runs
from kernel.mm.vm import NoMemory, Region, RegionKind


@dataclass
class Text:
    """One program's cached frames: frames[page] for each page with file
    bytes; runs are the image's regions [start, end, perm], map_runs the
    cached pages as (first page, [frames], perm) runs, bss_runs the
    .bss-only pages as (first page, count, perm) runs; perm is (writable,
    executable), as kernel.proc.loader.page_perms gives it."""
    image: object
    frames: dict
    runs: list
    map_runs: list
    bss_runs: list
    users: int = 0               # image regions naming these frames


class TextCache:
    """The programs loaded this boot, by image; one of the kernel's parts
    (its frames are kernel holds for the checker, and never writable)."""

    def __init__(self, vm):
        self.vm = vm
        self.texts = {}          # id(image) -> Text
        self.loads = 0           # images loaded into the cache this boot

    def map(self, aspace, image):
        """Map image into aspace from the cache, loading it first if no
        live process runs it. Raises NoMemory (the caller destroys aspace,
        which drops the regions and references taken here)."""
        text = self._get(image)
        for start, end, (w, x) in text.runs:  # first: destroy() releases
            aspace.add_region(Region(start, end, w, RegionKind.IMAGE,
                                     tag=image.name, obj=text,
                                     detach=self._released,
                                     share=self._shared, executable=x))
            text.users += 1
        for first, pas, (w, x) in text.map_runs:
            for pa in pas:                   # the references the PTEs own
                self.vm.frames.incref(pa)
            try:
                aspace.map_pages(first, pas, self.vm.leaf_flags(False, x)
                                 | (PTE_COW if w else 0))
            except NoMemory:
                for pa in pas:
                    self.vm.frames.decref(pa)
                raise
        for first, n, w in text.bss_runs:
            self._map_zeroed(aspace, first, n, w)

    def _map_zeroed(self, aspace, first, n, perm):
        """n private zeroed frames at first; NoMemory with none kept."""
        pas = []
        try:
            for _ in range(n):
                pas.append(self.vm.alloc_zeroed())
            aspace.map_pages(first, pas, self.vm.leaf_flags(*perm))
        except NoMemory:
            for pa in pas:
                self.vm.frames.decref(pa)
            raise

    def _get(self, image):
        text = self.texts.get(id(image))
        if text is None:
            text = self._load(image)
            self.texts[id(image)] = text
            self.loads += 1
        return text

    def _load(self, image):
        """Frames holding image's file bytes, page by page; NoMemory with
        every frame taken so far given back."""
        perms, frames = page_perms(image, self.vm.mode.nx), {}
        try:
            for page in sorted(perms):
                if has_file_bytes(image, page):
                    frames[page] = self.vm.alloc_zeroed()
                    fill_page(self.vm.hw, image, page, frames[page])
        except NoMemory:
            for pa in frames.values():
                self.vm.frames.decref(pa)
            raise
        bss = {page: w for page, w in perms.items() if page not in frames}
        return Text(image, frames, page_runs(perms),
                    _frame_runs(frames, perms),
                    [(start, (end - start) // PAGE_SIZE, w)
                     for start, end, w in page_runs(bss)])

    def _shared(self, region):
        region.obj.users += 1               # fork copied an image region

    def _released(self, region):
        """An image region was unmapped: the last one frees the frames."""
        text = region.obj
        text.users -= 1
        if text.users == 0:
            for pa in text.frames.values():
                self.vm.frames.decref(pa)
            del self.texts[id(text.image)]

    # -- for the checker and the report --------------------------------------
    def frame_refs(self):
        for text in self.texts.values():
            for pa in text.frames.values():
                yield pa, f"text of {text.image.name}"

    def check(self, checker):
        """A cached frame is never writable through any PTE."""
        for text in self.texts.values():
            for page, pa in text.frames.items():
                if pa in checker.writable:
                    checker.fail("cached program text is never writable",
                                 f"{text.image.name} page {page:#x} frame "
                                 f"{pa:#x}")

    def report(self, report):
        report["stats"]["text_frames"] = sum(len(t.frames)
                                             for t in self.texts.values())
        report["stats"]["text_loads"] = self.loads


def _frame_runs(frames, perms):
    """(first page, [frames], perm) for each run of contiguous cached pages
    of one permission: one map_pages call (one physical write per page
    table) each."""
    return [(first, [frames[first + k * PAGE_SIZE] for k in range(n)], w)
            for first, n, w in merge_runs((page, 1, perms[page])
                                          for page in sorted(frames))]
