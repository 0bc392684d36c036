"""Expectation headers: each line kind, the first comment block only, and
one error naming file:line for each malformed line."""

import pytest

from tools.testrun.header import HeaderError, mode_options, parse_header


def header(tmp_path, text, name="p.s"):
    path = tmp_path / name
    path.write_text(text)
    return parse_header(path)


def test_every_line_kind(tmp_path):
    e = header(tmp_path, "\n# a program\n# expect: exit 0 270\n"
               "# expect: stdout one\\ttab\n# expect: stdout two\\nthree\n"
               "# expect: fault 2 14 0x6\n# expect: with b c.s\n"
               "# expect: options --memory 32M --quantum 50\n"
               "# expect: modes 32 pae+cpus=2 seed=7+check races\nnop\n")
    assert e.exit == {1: 0, 2: 270}
    assert e.stdout == ["one\ttab", "two\nthree"]
    assert e.faults == {2: (14, 6)}
    assert e.with_programs == ["b", "c.s"]
    assert e.options == ["--memory", "32M", "--quantum", "50"]
    assert e.modes == ["32", "pae+cpus=2", "seed=7+check", "races"]


def test_exit_by_pid_and_defaults(tmp_path):
    e = header(tmp_path, "# expect: exit 1=0 3=-35\n")
    assert e.exit == {1: 0, 3: -35}
    assert e.statuses([1, 2, 3]) == {1: 0, 2: None, 3: -35}
    e = header(tmp_path, "# expect: exit 0 7\n")
    assert e.statuses([1, 2, 3]) == {1: 0, 2: 7, 3: "no such process"}
    e = header(tmp_path, "# expect: fault 2 13\n")
    assert e.exit is None and e.modes is None and e.stdout is None
    assert e.statuses([1, 2, 3]) == {1: 0, 2: 269, 3: 0}


def test_c_header_and_first_block_only(tmp_path):
    e = header(tmp_path, "// expect: exit 4\n#include \"ia32k.h\"\n"
               "// expect: exit 5\n", name="p.c")
    assert e.exit == {1: 4}
    assert header(tmp_path, "# expect: exit 1\n", name="p.c") is None
    assert header(tmp_path, "nop\n# expect: exit 1\n") is None
    assert header(tmp_path, "# just a comment\nnop\n") is None


@pytest.mark.parametrize("line, words", [
    ("expect: exits 0", "unknown expectation 'exits'"),
    ("expect:", "unknown expectation ''"),
    ("expect: exit", "expected statuses"),
    ("expect: exit 0 2=1", "mixes"),
    ("expect: exit zero", "'zero' is not a number"),
    ("expect: fault 1", "PID VECTOR"),
    ("expect: fault 1 40", "not a CPU exception"),
    ("expect: with", "pids 2..N"),
    ("expect: modes", "at least one mode"),
    ("expect: modes 64", "unknown mode '64'"),
    ("expect: modes cpus=two", "'two' is not a number"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, words):
    with pytest.raises(HeaderError) as e:
        header(tmp_path, f"# title\n# {line}\n")
    assert str(e.value).startswith(f"{tmp_path / 'p.s'}:2: ")
    assert words in str(e.value)


def test_options_split_as_a_shell_would(tmp_path):
    e = header(tmp_path, "# expect: options --program 'my child.c'\n")
    assert e.options == ["--program", "my child.c"]
    with pytest.raises(HeaderError, match=":1: expect: options: "):
        header(tmp_path, "# expect: options --program 'open\n")


def test_exit_given_twice(tmp_path):
    with pytest.raises(HeaderError, match=":2: .*given twice"):
        header(tmp_path, "# expect: exit 0\n# expect: exit 1\n")


def test_mode_options():
    assert mode_options("pae+cpus=2+seed=0x10+check+races") == [
        "--paging", "pae", "--cpus", "2", "--seed", "16", "--check",
        "--races"]
    assert mode_options("32") == ["--paging", "32"]
