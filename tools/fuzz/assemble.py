"""Fast assembly of a fuzz program (tools/fuzz/campaign.py random_program:
code, then `.align 4096` and `data: .zero 8192`). Keystone assembles only
the code, with `data` set to the page after it; the alignment padding
(keystone's own NOP bytes, asked once per length) and the zero data pages
are appended as bytes. The image is the same as assemble_source gives for
the whole text, in about half the time: most of keystone's time goes
into emitting the 12 KiB of padding and zeros, and fuzz programs need no
`.include` expansion. A program that does not assemble is handed to
assemble_source for its BuildError."""

from keystone import KS_ARCH_X86, KS_MODE_32, Ks, KsError

from tools.toolchain.asm import BASE, assemble_source
from tools.toolchain.gen_include import asm_text

TAIL = "\n.align 4096\ndata: .zero 8192"
PAGE = 4096
DATA = 8192
_PADS = {}
_KS = []


def _asm(text):
    if not _KS:
        _KS.append((Ks(KS_ARCH_X86, KS_MODE_32), asm_text() + "\n"))
    ks, head = _KS[0]
    code, _ = ks.asm(head + text, BASE)
    return bytes(code or b"")


def _pad(n):
    """The bytes keystone pads n bytes with for `.align 4096`."""
    if n not in _PADS:
        _PADS[n] = _asm(f".fill {PAGE - n}, 1, 0\n.align {PAGE}")[PAGE - n:]
    return _PADS[n]


def assemble_program(text):
    """The flat code of a fuzz program's text (any other text: assembled
    as it is)."""
    if not text.endswith(TAIL):
        return assemble_source(text)
    code, guess = text[:-len(TAIL)], PAGE
    try:
        while True:
            out = _asm(f"data = {BASE + guess:#x}\n{code}")
            end = -(-len(out) // PAGE) * PAGE
            if end == guess and out:
                return out + _pad(end - len(out)) + bytes(DATA)
            guess = end or PAGE
    except KsError:
        return assemble_source(text)            # raises its BuildError
