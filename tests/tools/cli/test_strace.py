"""--strace: one line per system call, with decoded arguments and the
result's errno name; to stderr, a file, stdout, or JSON lines."""

import json

import pytest

from tests.conftest import ROOT
from tools.observe.boot import new_kernel
from tools.toolchain.programs import Programs

CALLS = """
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [msg]
    mov edx, 6
    int 0x80
    mov eax, SYS_WRITE
    mov ebx, 1
    mov ecx, 0xdeadbeef
    mov edx, 10
    int 0x80
    mov eax, 99
    int 0x80
    mov eax, SYS_SPAWN
    lea ebx, [nosuch]
    mov ecx, 6
    xor edx, edx
    int 0x80
    mov eax, SYS_EXIT
    mov ebx, 7
    int 0x80
msg: .ascii "hello\\n"
nosuch: .ascii "nosuch"
"""


@pytest.fixture
def calls(tmp_path):
    p = tmp_path / "calls.s"
    p.write_text(CALLS)
    return str(p)


def test_strace_to_stderr_decodes_calls_and_errors(ia32k, calls):
    cp = ia32k("run", calls, "--strace")
    assert cp.stdout == "hello\n"
    lines = [ln for ln in cp.stderr.splitlines() if ln.startswith("[pid")]
    assert lines == [
        '[pid 1] write(1, "hello\\n", 6) = 6',
        "[pid 1] write(1, 0xdeadbeef, 10) = -14 EFAULT",
        "[pid 1] syscall_99(0x1, 0xdeadbeef, 0xa) = -38 ENOSYS",
        '[pid 1] spawn("nosuch", 6, 0) = -2 ENOENT',
        "[pid 1] exit(7) = ?",
    ]


def test_strace_jsonl_file(ia32k, calls, tmp_path):
    out = tmp_path / "calls.jsonl"
    cp = ia32k("run", calls, "--strace", str(out))
    assert "[pid" not in cp.stderr
    recs = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [r["call"] for r in recs] == ["write", "write", "syscall_99",
                                         "spawn", "exit"]
    assert recs[1]["args"][:3] == [1, 0xdeadbeef, 10]
    assert (recs[1]["result"], recs[1]["errno"]) == (-14, "EFAULT")
    assert recs[0]["errno"] is None and recs[4]["result"] is None


def test_strace_dash_is_stdout_and_blocking_calls_resume(ia32k):
    cp = ia32k("run", "family", "--strace", "-")
    out = cp.stdout.splitlines()
    assert cp.returncode == 0
    assert "[pid 1] wait(-1, 0x" in "\n".join(out)
    i = next(i for i, ln in enumerate(out) if "= <blocks>" in ln)
    assert any(ln.startswith("[pid 1] <... wait resumed> = ")
               for ln in out[i + 1:])


def test_strace_refuses_to_write_over_a_program(ia32k, calls, tmp_path):
    cp = ia32k("run", "--strace", calls, calls)
    assert cp.returncode == 2 and "program source" in cp.stderr
    assert (tmp_path / "calls.s").read_text() == CALLS


def test_untraced_kernels_have_no_syscall_observer():
    k = new_kernel(Programs([ROOT / "userland" / "demo" / "family.c"]))
    assert k.hooks.syscall == ()


def test_race_strace_traces_each_outcome(ia32k, tmp_path):
    out = tmp_path / "race.jsonl"
    cp = ia32k("race", str(ROOT / "userland" / "demo" / "race.c"),
               "--seeds", "0..2", "--jobs", "1", "--strace", str(out))
    outcomes = cp.stdout.count("  outcome ")
    recs = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert outcomes >= 1
    assert sorted({r["race_outcome"] for r in recs}) == \
        list(range(1, outcomes + 1))
    assert {r["call"] for r in recs} >= {"shm_create", "spawn", "exit"}
