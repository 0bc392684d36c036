"""The output files of `ia32k run`: '-' is stdout for every one of them;
each path is checked before the run starts (a path that cannot be written,
or one naming a program source, is a usage error at once)."""

import sys
from pathlib import Path

from tools.toolchain.programs import SOURCE_SUFFIXES

STDOUT = "-"


def check(option, value, usage_error):
    """Make sure `option value` can be written, now; the file is left as it
    was (None and '-' need no check)."""
    if value in (None, STDOUT):
        return
    path = Path(value)
    if path.suffix in SOURCE_SUFFIXES:
        raise usage_error(f"{option} {value}: will not write over a "
                          "program source (an option's FILE comes right "
                          "after it)")
    existed = path.exists()
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise usage_error(f"{option} {value}: cannot write: "
                          f"{e.strerror}") from None
    if not existed:
        path.unlink()


def open_text(value, default=None):
    """A text stream for value: '-' stdout, None default (stderr unless
    given), else the file."""
    if value == STDOUT:
        return sys.stdout
    if value is None:
        return default or sys.stderr
    return open(value, "w", encoding="utf-8")


def close(stream):
    """Flush a stream of open_text; close it when it is a file."""
    if stream in (sys.stdout, sys.stderr):
        stream.flush()
    else:
        stream.close()
