"""Seam boots: the hostile campaign's moves where two features meet.

A seam boot (tools/fuzz/campaign.py draws a share of them) runs programs
written by SeamWriter, whose moves add to tools/fuzz/hostile.py's:
- large-page (SHM_HUGETLB) segments attached at random 4 MiB-aligned (or
  misaligned) addresses, twice, touched partly through one attachment and
  read back through the other;
- code written into private pages, into shm and into copy-on-write pages
  after fork, then run after yields (on 1-3 CPUs, so a process may come
  back on a CPU that translated the old bytes);
- long single-process loops over a private shm segment (under --races the
  race log must stay bounded and report nothing);
- futex calls on a private word of pages every process of one program
  shares through the text cache (several processes of each program run):
  a wake must never reach another process.
Its Mode also turns on --races, PAE paging and a debugger (the client of
tools/fuzz/debugclient.py) for a share of boots. Each guest self-check ends with a STALE status
(tools/fuzz/hostile.py); findings() adds what the kernel side saw.
"""

from dataclasses import dataclass
from typing import Optional

from kernel.mm.hugetlb import SHM_HUGETLB
from tools.fuzz import debugclient, hostile
from tools.fuzz.debugclient import DATA_TAIL, HUGE_AT, MB
from tools.race.watch import RaceWatch

FWORD = 7                   # the private futex word's value
SHM_CODE_AT = 0x90000000    # private segments holding code
LOOP_AT = 0x88000000        # private segments looped over


@dataclass(frozen=True)
class Mode:
    """How a boot runs besides its programs: seam programs (SeamWriter),
    the paging mode, the race detector, a debugger client's seed."""
    seams: bool = False
    paging: str = "32"
    races: bool = False
    debug: Optional[int] = None

    def text(self):
        """The mode as --mode takes it: "plain", or e.g. "seams,pae,races,
        debug=5"."""
        if not self.seams:
            return "plain"
        return ",".join(["seams"] + (["pae"] if self.paging == "pae" else [])
                        + (["races"] if self.races else [])
                        + ([f"debug={self.debug}"] if self.debug is not None
                           else []))

    @classmethod
    def parse(cls, text):
        """The Mode text() gives text for; ValueError when it is not one."""
        words = set(text.split(",")) - {"plain", ""}
        debug = [w for w in words if w.startswith("debug=")]
        if words - {"seams", "pae", "races"} - set(debug):
            raise ValueError(f"not a fuzz mode: {text}")
        return cls(bool(words), "pae" if "pae" in words else "32",
                   "races" in words,
                   int(debug[0].split("=")[1]) if debug else None)

    def options(self):
        """The `ia32k run` options that give this mode (no debugger)."""
        return (["--paging", "pae"] if self.paging == "pae" else []) + \
            (["--races"] if self.races else [])


SEAM_SHARE = 0.3            # of boots, seam boots
HOSTILE = 0.6               # of a seam program's items, moves at least


def draw_mode(rng, share=SEAM_SHARE):
    """A boot's Mode and CPU count (None: the campaign's own choice)."""
    if rng.random() >= share:
        return Mode(), None
    return Mode(True, rng.choice(("32", "32", "pae")), rng.random() < 0.3,
                rng.getrandbits(32) if rng.random() < 0.3 else None), \
        rng.choice((1, 2, 2, 3))


class SeamWriter(hostile.Writer):
    """hostile.Writer with the seam moves (see the module docstring)."""

    MOVES = hostile.Writer.MOVES + ("huge_pages", "code_private_yield",
                                    "code_shm_yield", "code_after_fork",
                                    "shm_loop", "futex_private")
    WEIGHTS = hostile.Writer.WEIGHTS + (12, 8, 6, 4, 4, 8)
    TAIL = DATA_TAIL            # bytes after the data pages: the futex page

    def tail(self):
        return super().tail() + [".align 4096", f"fword: .long {FWORD}",
                                 ".zero 4092"]

    def exit_with(self, status):
        self.emit(f"mov ebx, {status:#x}", "mov eax, SYS_EXIT", "int 0x80")

    def yields(self, n=None):
        for _ in range(n or self.rng.randrange(1, 4)):
            self.emit("mov eax, SYS_YIELD", "int 0x80")

    def huge_pages(self, i):
        """Create a large-page segment, attach it twice, store through one
        attachment at a random offset and load through the other."""
        rng = self.rng
        size = rng.choice((1, 2 * MB, 4 * MB, 5 * MB))
        a = HUGE_AT + (i << 23)
        b = a + (4 * MB if rng.random() < 0.2 else 8 * MB) \
            if rng.random() < 0.9 else a + 2 * MB + 4096
        off = rng.choice((0, 4, 4096, 0x101010, 2 * MB - 4, 2 * MB + 8,
                          rng.randrange(0, 2 * MB, 4)))
        self.emit("xor ebx, ebx", f"mov ecx, {size:#x}",
                  f"mov edx, {0o600 | SHM_HUGETLB:#x}",
                  "mov eax, SYS_SHM_CREATE", "int 0x80", "test eax, eax",
                  f"js c{i}", f"mov dword ptr [ebp + {hostile.SHMID}], eax")
        for at in (a, b):
            self.emit(f"mov ebx, dword ptr [ebp + {hostile.SHMID}]",
                      f"mov ecx, {at:#x}", "xor edx, edx",
                      "mov eax, SYS_SHM_ATTACH", "int 0x80",
                      f"cmp eax, {at:#x}", f"jne d{i}")
        value = rng.getrandbits(32) | 1
        self.emit(f"mov dword ptr [{a + off:#x}], {value:#x}")
        self.yields()
        self.emit(f"cmp dword ptr [{b + off:#x}], {value:#x}", f"je d{i}")
        self.exit_with(0x5EC0DE0A)
        self.label(f"d{i}")
        if rng.random() < 0.7:
            self.emit(f"mov ebx, dword ptr [ebp + {hostile.SHMID}]",
                      "mov eax, SYS_SHM_DESTROY", "int 0x80")
        if rng.random() < 0.5:
            self.emit(f"mov ebx, {a:#x}", "mov eax, SYS_SHM_DETACH",
                      "int 0x80")
        self.label(f"c{i}")

    def code_private_yield(self, i):
        """Its own private code rewritten, then run after yields."""
        self.function(i, [f"mov eax, {hostile.OLD:#x}", "ret"])
        self.emit(f"call f{i}")
        self.yields()
        self.emit(f"mov dword ptr [f{i} + 1], {hostile.NEW:#x}")
        self.yields()
        self.emit(f"call f{i}")
        self.expect(i, hostile.NEW, 0x5EC0DE05)

    def code_shm_yield(self, i):
        """Code in a private executable segment, rewritten after yields."""
        at = SHM_CODE_AT + (i << 16)
        self.emit("xor ebx, ebx", "mov ecx, 4096", "mov edx, 0x180",
                  "mov eax, SYS_SHM_CREATE", "int 0x80", "test eax, eax",
                  f"js c{i}", "mov ebx, eax", f"mov ecx, {at:#x}",
                  "mov edx, 2", "mov eax, SYS_SHM_ATTACH", "int 0x80",
                  f"cmp eax, {at:#x}", f"jne c{i}")
        self.store_code(at, hostile.OLD)
        self.emit(f"mov eax, {at:#x}", "call eax")
        self.yields()
        self.store_code(at, hostile.NEW)
        self.yields()
        self.emit(f"mov eax, {at:#x}", "call eax")
        self.expect(i, hostile.NEW, 0x5EC0DE06)

    def store_code(self, at, value):
        """`mov eax, value; ret` at address at."""
        self.emit(f"mov byte ptr [{at:#x}], 0xb8",
                  f"mov dword ptr [{at + 1:#x}], {value:#x}",
                  f"mov byte ptr [{at + 5:#x}], 0xc3")

    def code_after_fork(self, i):
        """After fork, the child rewrites its copy of a function and runs it
        after yields; the parent must still run the old one, then (the
        child gone, the page its own again) rewrites and runs it."""
        self.function(i, [f"mov eax, {hostile.OLD:#x}", "ret"])
        self.emit(f"call f{i}", "mov eax, SYS_FORK", "int 0x80",
                  "test eax, eax", f"js c{i}", f"jnz p{i}",
                  f"mov dword ptr [f{i} + 1], {hostile.NEW:#x}")
        self.yields()
        self.emit(f"call f{i}", f"cmp eax, {hostile.NEW:#x}", f"jne b{i}",
                  "mov eax, SYS_EXIT", "xor ebx, ebx", "int 0x80")
        self.label(f"b{i}")
        self.exit_with(0x5EC0DE07)
        self.label(f"p{i}")
        self.emit("push eax")
        self.yields()
        self.emit(f"call f{i}", "pop ebx", f"cmp eax, {hostile.OLD:#x}",
                  f"je q{i}")
        self.exit_with(0x5EC0DE08)
        self.label(f"q{i}")
        self.emit("xor ecx, ecx", "mov eax, SYS_WAIT", "int 0x80",
                  f"mov dword ptr [f{i} + 1], {hostile.NEW:#x}")
        self.yields()
        self.emit(f"call f{i}")
        self.expect(i, hostile.NEW, 0x5EC0DE07)

    def shm_loop(self, i):
        """A long loop of stores over a private segment (one process): a
        counted loop, or `rep stosd` (more stores in one instruction than
        the race log holds)."""
        rng = self.rng
        size = rng.choice((16, 64, 256)) << 10
        self.emit("xor ebx, ebx", f"mov ecx, {size:#x}", "mov edx, 0x180",
                  "mov eax, SYS_SHM_CREATE", "int 0x80", "test eax, eax",
                  f"js c{i}", "mov ebx, eax",
                  f"mov ecx, {LOOP_AT + (i << 20):#x}", "xor edx, edx",
                  "mov eax, SYS_SHM_ATTACH", "int 0x80", "cmp eax, -4095",
                  f"jae c{i}", f"mov esi, {rng.randrange(1, 5)}")
        self.label(f"o{i}")
        self.emit(f"mov ecx, {size // 4:#x}")
        if rng.random() < 0.5:          # one instruction, size / 4 stores
            self.emit("mov edi, eax", "cld", "rep stosd", "dec esi",
                      f"jnz o{i}")
        else:
            self.label(f"lp{i}")
            self.emit("mov dword ptr [eax + 4 * ecx - 4], ecx",
                      "dec ecx", f"jnz lp{i}", "dec esi", f"jnz o{i}")
        self.label(f"c{i}")

    def futex_private(self, i):
        """futex on the never-written word fword (the same frame in every
        process of this program, through the text cache): odd pids wake
        every sleeper, which must be none; even pids wait a little."""
        self.emit("mov eax, SYS_GETPID", "int 0x80", "test eax, 1",
                  f"jz w{i}", "lea ebx, [fword]", "mov ecx, 0x7fffffff",
                  "mov eax, SYS_FUTEX_WAKE", "int 0x80", "test eax, eax",
                  f"jle c{i}")
        self.exit_with(0x5EC0DE09)
        self.label(f"w{i}")
        value = FWORD if self.rng.random() < 0.3 else FWORD + 1
        self.emit("lea ebx, [fword]", f"mov ecx, {value}",
                  "mov eax, SYS_FUTEX_WAIT", "int 0x80")
        self.label(f"c{i}")


def writer_only(*moves):
    """A SeamWriter class that draws only the given moves (tests)."""
    return type("OnlyWriter", (SeamWriter,), {
        "MOVES": moves, "WEIGHTS": (1,) * len(moves)})


def findings(k, dbg=None):
    """What the kernel side of a seam boot saw wrong: the debugger client's
    findings; under --races, accesses the race log dropped and races
    reported between accesses of one process."""
    out = debugclient.findings(k, dbg) if dbg is not None else []
    races = k.observer(RaceWatch)
    if races is None:
        return out
    dropped = sum(log.dropped for log in races.logs)
    if dropped:
        out.append(f"the race log dropped {dropped} accesses")
    for r in races.verdicts or ():
        if r.a.pid == r.b.pid:
            out.append(f"race reported within pid {r.a.pid}: "
                       f"{r.a.program} {r.a.eip:#x} / {r.b.eip:#x}")
    return out
