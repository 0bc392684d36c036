"""Find and build user programs: .s/.asm (keystone), .c (gcc), ELF or flat
.bin. Programs under userland/ are spawnable by name and built on first use."""

from pathlib import Path

from kernel.proc.loader import ImageError, flat_image, image_from_bytes
from tools.toolchain.asm import BuildError, assemble_file, assemble_source
from tools.toolchain.cc import compile_c

from tools import ROOT
USERLAND = ROOT / "userland"
PROGRAM_DIRS = ("bin", "demo", "tests")
SOURCE_SUFFIXES = (".s", ".asm", ".c")
ELF_MAGIC = b"\x7fELF"
ACCEPTED = ("accepted: .s or .asm (Intel-syntax assembly), .c (C), an ELF "
            "executable, or a flat binary named .bin")


def build(path):
    """Return the loader Image for the program file at path."""
    path = Path(path)
    if not path.is_file():
        bare = "" if path.suffix or len(path.parts) > 1 else \
            ", nor a program of that name under userland/"
        raise BuildError(f"{path}: no such program file{bare}")
    if path.suffix in (".s", ".asm"):
        data = assemble_file(path)
    elif path.suffix == ".c":
        data = compile_c(path)
    else:
        data = _binary(path)
    try:
        return image_from_bytes(path.stem, data)
    except ImageError as e:
        raise BuildError(str(e)) from None


def _binary(path):
    """The bytes of an ELF file or a .bin flat binary; any other file is
    refused rather than run as code."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BuildError(f"{path}: {e.strerror}") from None
    if data.startswith(ELF_MAGIC) or path.suffix == ".bin":
        return data
    raise BuildError(f"{path}: not a program ({ACCEPTED})")


def userland_programs():
    """name -> path for every program under userland/."""
    found = {}
    for d in PROGRAM_DIRS:
        for f in sorted((USERLAND / d).rglob("*")):
            if f.suffix in SOURCE_SUFFIXES:
                found.setdefault(f.stem, f)
    return found


class Programs:
    """The programs a boot knows by name; each is built when first asked for.
    A program that fails to build when spawned is reported, and is unknown."""

    def __init__(self, paths=(), on_error=None):
        self.paths = userland_programs()
        self.paths.update({Path(p).stem: Path(p) for p in paths})
        self.images = {}
        self.added = {}          # name -> resolved path given to add()
        self.on_error = on_error

    def add(self, path):
        """Build the program at path and make it known by its file stem;
        two different files with one name are an error, not a silent swap.
        A bare name that is no file names a program known by name (under
        userland/, or given before), as a guest's spawn finds it."""
        path = self.find(path)
        other = self.added.setdefault(path.stem, path.resolve())
        if other != path.resolve():
            raise BuildError(f"{path}: {other} is also named {path.stem!r}")
        self.paths[path.stem] = path
        self.images[path.stem] = build(path)
        return path.stem

    def find(self, arg):
        """The path arg names: itself, or the known program of that bare
        name when no such file exists."""
        path = Path(arg)
        if not path.exists() and str(arg) == path.name and \
                not path.suffix and path.name in self.paths:
            return self.paths[path.name]
        return path

    def get(self, name):
        if name not in self.images:
            path = self.paths.get(name)
            if path is None:
                return None
            try:
                self.images[name] = build(path)
            except BuildError as e:
                if self.on_error:
                    self.on_error(str(e))
                return None
        return self.images[name]


class Images(dict):
    """Programs already built, by name: a program table Kernel takes as it
    is (.get gives None for a name it does not hold)."""

    @classmethod
    def assembled(cls, sources):
        """The flat image of each assembly source text in sources, by
        name."""
        return cls({name: flat_image(name, assemble_source(src))
                    for name, src in sources.items()})
