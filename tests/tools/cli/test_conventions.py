"""Command-line conventions: '-' is stdout for every file option, output
paths are checked before the run, every option and argument has help, the
exit codes are in --help, --version, and one style of validation
message."""

import argparse
import json

import pytest

from tools.cli.main import make_parser

HELLO = """
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [msg]
    mov edx, 3
    int 0x80
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
msg: .ascii "hi\\n"
"""


@pytest.fixture
def hello(tmp_path):
    p = tmp_path / "hello.s"
    p.write_text(HELLO)
    return str(p)


def test_report_dash_is_stdout(ia32k, hello, tmp_path):
    cp = ia32k("run", "--report", "-", hello, "--html", str(tmp_path / "p"))
    assert cp.returncode == 0
    out = cp.stdout
    assert out.startswith("hi\n")
    report = json.loads(out[3:])
    assert report["processes"][0]["status"] == 0
    assert not (tmp_path / "-").exists()


def test_html_dash_is_stdout(ia32k, hello):
    cp = ia32k("run", "--html", "-", hello)
    assert cp.returncode == 0 and "<!DOCTYPE html>" in cp.stdout


@pytest.mark.parametrize("option", ["--report", "--trace", "--html",
                                    "--strace"])
def test_bad_output_path_fails_before_the_run(ia32k, hello, tmp_path,
                                              option):
    cp = ia32k("run", option, str(tmp_path / "no" / "such" / "f"), hello)
    assert cp.returncode == 2, cp.stderr
    assert cp.stdout == ""                      # the program never ran
    assert cp.stderr.startswith(f"ia32k: {option} ")
    assert "cannot write" in cp.stderr


def subparsers():
    ap = make_parser()
    sub = next(a for a in ap._actions
               if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("cmd", ["run", "trace", "race"])
def test_every_option_and_argument_has_help(cmd):
    for action in subparsers()[cmd]._actions:
        assert action.help and action.help != argparse.SUPPRESS, \
            action.option_strings or action.dest


def test_help_lists_exit_codes(ia32k):
    for args in (["--help"], ["run", "--help"]):
        cp = ia32k(*args)
        assert cp.returncode == 0
        for code in ("130", "124", "125", "70"):
            assert f"\n  {code} " in cp.stdout


def test_version(ia32k):
    cp = ia32k("--version")
    assert cp.returncode == 0 and cp.stdout.startswith("ia32k ")
    assert cp.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("args,message", [
    (["--quantum", "-3"], "ia32k: --quantum -3: must be 0 (off) or more"),
    (["--cpus", "9"], "ia32k: --cpus 9: must be 1 to 8"),
])
def test_validation_messages_name_option_and_value(ia32k, hello, args,
                                                   message):
    cp = ia32k("run", *args, hello)
    assert cp.returncode == 2 and cp.stderr.strip() == message


def test_memory_message_names_the_option_once(ia32k, hello):
    cp = ia32k("run", "--memory", "1", hello)
    assert cp.returncode == 2 and cp.stderr.count("--memory") == 1


def test_quantum_zero_is_off(ia32k, hello):
    cp = ia32k("run", "--quantum", "0", hello)
    assert cp.returncode == 0 and cp.stdout == "hi\n"
