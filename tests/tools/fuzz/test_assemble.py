"""tools/fuzz/assemble.py: the fuzzer's own programs assemble to the image
assemble_source gives, for plain and seam writers, and a text that does
not assemble still raises assemble_source's BuildError."""

import random

import pytest

from tools.fuzz import campaign as fz
from tools.fuzz import seams
from tools.fuzz.assemble import assemble_program, images
from tools.toolchain.asm import BuildError, assemble_source


def test_seam_programs_give_the_same_image():
    for seed in (4, 5):
        text = fz.random_program(random.Random(seed), hostile=0.5,
                                 targets=fz.fixed().targets,
                                 writer=seams.SeamWriter)
        assert assemble_program(text) == assemble_source(text)


def test_a_broken_program_raises_a_build_error_with_its_line():
    text = "mov eax, 1\nmov eax, [ebx + ]\n"
    with pytest.raises(BuildError, match=":2:"):
        assemble_program(text)


def test_images_are_flat_images_by_name():
    texts = {"a": "mov eax, 1\nint 0x80", "b": "nop\nnop"}
    got = images(texts)
    assert set(got) == {"a", "b"}
    assert got["b"].segments[0].data[:2] == b"\x90\x90"
