"""tools/toolchain/asm.py: keystone at 0x00400000, generated constants, .include,
and errors that name the file and line."""

import pytest

from kernel.syscall import Errno, Sys
from tools.toolchain.asm import BuildError, assemble_file, assemble_source


def test_labels_are_absolute_at_the_image_base():
    code = assemble_source("lea eax, [here]\nhere: nop\n")
    assert code == bytes.fromhex("8d0506004000") + b"\x90"


def test_generated_constants_are_in_scope():
    code = assemble_source("mov eax, SYS_SPAWN\nmov ebx, EFAULT\n"
                           "mov ecx, SYS_FUTEX_WAKE\n")
    assert code == (b"\xb8" + int(Sys.SPAWN).to_bytes(4, "little")
                    + b"\xbb" + int(Errno.EFAULT).to_bytes(4, "little")
                    + b"\xb9" + int(Sys.FUTEX_WAKE).to_bytes(4, "little"))


def test_include_relative_to_the_including_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.inc").write_text('nop\n.include "b.inc"\n')
    (tmp_path / "lib" / "b.inc").write_text("int3\n.equ MAGIC, 7\n")
    main = tmp_path / "main.s"
    main.write_text('.include "lib/a.inc"\nmov eax, MAGIC\n')
    assert assemble_file(main) == b"\x90\xcc\xb8\x07\x00\x00\x00"


def _error(tmp_path, files, main="main.s"):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(BuildError) as e:
        assemble_file(tmp_path / main)
    return str(e.value)


def test_bad_instruction_names_file_and_line(tmp_path):
    msg = _error(tmp_path, {"main.s": "nop\n\n  bogus eax, 1\nnop\n"})
    assert msg.startswith(f"{tmp_path / 'main.s'}:3: ")
    assert "bogus eax, 1" in msg


def test_error_inside_an_include_names_that_file(tmp_path):
    msg = _error(tmp_path, {"main.s": 'nop\n.include "x.inc"\n',
                            "x.inc": "# a comment\nnop\nmov eax, 1 ; oops\n"})
    assert msg.startswith(f"{tmp_path / 'x.inc'}:3: ")


def test_missing_include_names_the_including_line(tmp_path):
    msg = _error(tmp_path, {"main.s": 'nop\nnop\n.include "gone.inc"\n'})
    assert msg.startswith(f"{tmp_path / 'main.s'}:3: ")
    assert "gone.inc" in msg


def test_recursive_include_is_an_error(tmp_path):
    msg = _error(tmp_path, {"main.s": '.include "main.s"\n'})
    assert "main.s:1: cannot include" in msg


def test_undefined_label_names_the_line_that_uses_it(tmp_path):
    msg = _error(tmp_path, {"main.s": "jmp later\nnop\n"
                            "later: mov ebx, [nowhere]\nnop\n"})
    assert msg.startswith(f"{tmp_path / 'main.s'}:3: ")
    assert "never defined" in msg


def test_forward_references_are_not_errors():
    assert assemble_source("jmp end\nnop\nend: nop\n") == b"\xeb\x01\x90\x90"


def test_source_name_is_used_in_errors():
    with pytest.raises(BuildError) as e:
        assemble_source("nop\nfoo bar\n", name="prog.s")
    assert str(e.value).startswith("prog.s:2: ")
