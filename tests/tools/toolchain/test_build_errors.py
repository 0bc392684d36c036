"""Build and input errors as a newcomer meets them: gcc's first error with
its context (fatal errors too), warnings shown but not fatal, files that
are no program refused, assembly errors naming the dialect, and lines
keystone would mis-assemble or drop silently refused."""

import pytest

from tools.toolchain.asm import BuildError, assemble_source

EXIT = "mov eax, SYS_EXIT\nxor ebx, ebx\nint 0x80\n"


def error_lines(cp):
    assert cp.returncode == 2, cp.stderr
    assert "Traceback" not in cp.stderr and cp.stdout == ""
    return cp.stderr.splitlines()


def test_fatal_error_of_a_missing_header_is_shown(ia32k, tmp_path):
    p = tmp_path / "std.c"
    p.write_text("#include <nosuch_header.h>\nint main(int a) { return 0; }\n")
    lines = error_lines(ia32k("run", str(p)))
    assert lines[0].startswith(f"ia32k: {p}:1:")
    assert "fatal error: nosuch_header.h" in lines[0]
    assert any("#include <nosuch_header.h>" in ln for ln in lines[1:])
    assert "no C library" in lines[-1]


def test_an_error_inside_an_included_file_names_the_include(ia32k, tmp_path):
    (tmp_path / "bad.h").write_text("int broken(void) { return nope; }\n")
    p = tmp_path / "inc.c"
    p.write_text('#include "bad.h"\nint main(int a) { return broken(); }\n')
    lines = error_lines(ia32k("run", str(p)))
    assert "bad.h:1:" in lines[0] and "error" in lines[0]
    assert any(f"included from {p}:1" in ln for ln in lines)


def test_warnings_are_shown_and_the_program_runs(ia32k, tmp_path):
    p = tmp_path / "warned.c"
    p.write_text("int main(int a)\n{\n    int unused_thing;\n"
                 "    return 3;\n}\n")
    cp = ia32k("run", str(p))
    assert cp.returncode == 1                     # status 3: not all zero
    assert "warning: unused variable" in cp.stderr
    assert "unused_thing" in cp.stderr


@pytest.mark.parametrize("name", ["README.md", "hello.txt", "Hello.S"])
def test_a_file_that_is_no_program_is_refused(ia32k, tmp_path, name):
    p = tmp_path / name
    p.write_text("# Hello\nsome words\n")
    [line] = error_lines(ia32k("run", str(p)))
    assert line.startswith(f"ia32k: {p}: not a program")
    for kind in (".s", ".c", "ELF", ".bin"):
        assert kind in line


def test_a_bare_name_runs_the_userland_program(ia32k):
    cp = ia32k("run", "family")
    assert cp.returncode == 0, cp.stderr
    assert "reaped pid" in cp.stdout


def test_an_unknown_bare_name_says_where_it_looked(ia32k):
    [line] = error_lines(ia32k("run", "nosuch_program_x"))
    assert "no such program file" in line and "userland/" in line


@pytest.mark.parametrize("line,why", [
    ("mov eax, [ebx+", "unbalanced brackets"),
    ("mov eax, [ebx + 4", "unbalanced brackets"),
    ("mov eax, 1 +", "ends in '+'"),
    ("add eax, ebx,", "ends in ','"),
    ("movl $1, %eax", "not AT&T"),
    ("add eax,, 1", "KS_ERR"),
])
def test_silently_misassembled_lines_are_refused(line, why):
    with pytest.raises(BuildError) as e:
        assemble_source("nop\n" + line + "\n" + EXIT, name="prog.s")
    assert str(e.value).startswith("prog.s:2: ")
    assert why in str(e.value)
    assert "Intel syntax" in str(e.value)


@pytest.mark.parametrize("line,hint", [
    ("mov eax, 1 ; a comment", "';' separates instructions"),
    ("section .text", "NASM directives"),
    ("bogus eax", "Intel syntax with '#' comments"),
])
def test_assembly_errors_name_the_dialect(line, hint):
    with pytest.raises(BuildError) as e:
        assemble_source(EXIT + line + "\n", name="prog.s")
    assert str(e.value).startswith("prog.s:4: ") and hint in str(e.value)


def test_valid_lines_with_brackets_in_strings_and_comments_build():
    code = assemble_source('mov eax, [esp + 4]   # a [ in a comment\n'
                           'jmp done\nmsg: .ascii "x[y+"\ndone:\n' + EXIT)
    assert code[:4] == bytes.fromhex("8b442404")
