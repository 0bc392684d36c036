"""Fast assembly of the programs the fuzzer writes itself: one keystone
call on the whole text (the generated constants in front), its encoding
taken as bytes in one copy. The fuzzer's programs have no `.include` and
come from its own writers, so they skip the source checks of
tools/toolchain/asmcheck.py, which look for mistakes people make; the
image is the same as assemble_source gives. A text that does not
assemble is handed to assemble_source for its BuildError (file, line and
hint)."""

from keystone import KS_ARCH_X86, KS_MODE_32, Ks, KsError

from kernel.proc.loader import flat_image
from tools.toolchain.asm import BASE, assemble_source
from tools.toolchain.gen_include import asm_text
from tools.toolchain.programs import Images

_KS = []


def _engine():
    """This process's keystone engine and the constants' text."""
    if not _KS:
        _KS.append((Ks(KS_ARCH_X86, KS_MODE_32), asm_text() + "\n"))
    return _KS[0]


def assemble_program(text):
    """The flat code of a program the fuzzer wrote (a text with an
    `.include`: assembled by assemble_source)."""
    if ".include" in text:
        return assemble_source(text)
    ks, head = _engine()
    try:
        code, _ = ks.asm(head + text, BASE, as_bytes=True)
    except KsError:
        code = None
    return code if code else assemble_source(text)  # raises its BuildError


def images(texts):
    """Images of the fuzzer's programs (name -> assembly text), by name."""
    return Images({name: flat_image(name, assemble_program(text))
                   for name, text in texts.items()})
