"""tools/toolchain/programs.py: every program under userland/ builds, and program
names (file stems) are unique, since spawn finds programs by name."""

from collections import Counter

import pytest

from tools.toolchain.programs import (PROGRAM_DIRS, SOURCE_SUFFIXES, USERLAND, build,
                            userland_programs)


def all_sources():
    return sorted(f for d in PROGRAM_DIRS for f in (USERLAND / d).rglob("*")
                  if f.suffix in SOURCE_SUFFIXES)


def test_program_names_are_unique():
    dup = [n for n, c in Counter(f.stem for f in all_sources()).items()
           if c > 1]
    assert dup == []


@pytest.mark.parametrize("name", sorted(userland_programs()))
def test_every_userland_program_builds(name):
    image = build(userland_programs()[name])
    assert image.name == name and image.segments
