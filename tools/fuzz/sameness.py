"""Whether two processes run the same code: a digest of the source files
of the packages a campaign's units run (emu, kernel, tools), read from
where this process imports them. A Dask worker started without this repository on its path
imports whatever checkout its Python finds (an installed copy, another
clone), whose kernel reaches other lines and checks other invariants;
tools/fuzz/cluster.py refuses to run a unit on a worker whose digest is
not the client's."""

import hashlib
import os
from functools import lru_cache

import emu
import kernel
import tools

PACKAGES = (emu, kernel, tools)
SUFFIXES = (".py", ".c", ".s", ".S", ".h", ".inc")


class OtherCode(RuntimeError):
    """A worker imports other sources than the client."""


@lru_cache(maxsize=1)
def code_digest():
    """A hex digest of every source file of PACKAGES (its path relative to
    its package's parent, and its contents), read once per process."""
    h = hashlib.sha256()
    for pkg in PACKAGES:
        top = os.path.dirname(os.path.abspath(pkg.__file__))
        for path in sorted(_sources(top)):
            h.update(os.path.relpath(path, os.path.dirname(top)).encode())
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def _sources(top):
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        yield from (os.path.join(d, f) for f in files
                    if f.endswith(SUFFIXES))


def where():
    """The directory this process imports the kernel from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(kernel.__file__)))


def require(digest, worker):
    """Raise OtherCode unless this process's code_digest() is digest."""
    if code_digest() != digest:
        raise OtherCode(
            f"worker {worker} runs the code in {where()}, not the client's "
            "(start Dask workers with PYTHONPATH set to the repository "
            "the campaign runs from)")
