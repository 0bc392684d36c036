"""`ia32k run` as a user meets it: errors are one line and exit 2, the
exit status follows the processes, --report keys, --quantum determinism."""

import json

import pytest

OK = "mov ebx, 0\nmov eax, SYS_EXIT\nint 0x80\n"
EXIT3 = "mov ebx, 3\nmov eax, SYS_EXIT\nint 0x80\n"


def one_line_error(cp, *words):
    """The usage-error contract: exit 2, one 'ia32k: ...' line, no trace."""
    assert cp.returncode == 2, cp.stderr
    lines = cp.stderr.splitlines()
    assert len(lines) == 1, cp.stderr
    assert lines[0].startswith("ia32k: ")
    assert "Traceback" not in cp.stderr
    for w in words:
        assert w in lines[0]
    assert cp.stdout == ""


@pytest.fixture
def ok_prog(tmp_path):
    p = tmp_path / "ok.s"
    p.write_text(OK)
    return str(p)


def test_missing_program_file(ia32k, tmp_path, ok_prog):
    one_line_error(ia32k("run", ok_prog, str(tmp_path / "gone.s")), "gone.s")
    one_line_error(ia32k("run", "--program", str(tmp_path / "x.c"), ok_prog),
                   "x.c")


def test_assembler_error_names_file_and_line(ia32k, tmp_path):
    p = tmp_path / "bad.s"
    p.write_text("nop\nnop\nmov eax, 1 ; not a comment\n")
    one_line_error(ia32k("run", str(p)), f"{p}:3:")


def test_c_compile_error_shows_first_error_and_its_context(ia32k, tmp_path):
    p = tmp_path / "bad.c"
    p.write_text('#include "ia32k.h"\nint main(int a)\n{\n'
                 "    return undeclared_thing + also_missing;\n}\n")
    cp = ia32k("run", str(p))
    assert cp.returncode == 2 and cp.stdout == ""
    first, source, caret, *rest = cp.stderr.splitlines()
    assert first.startswith(f"ia32k: {p}:4:") and "error" in first
    assert "undeclared_thing" in first
    assert "return undeclared_thing" in source and "^" in caret
    assert "Traceback" not in cp.stderr


def test_c_link_error_is_one_line(ia32k, tmp_path):
    p = tmp_path / "nolink.c"
    p.write_text("int nowhere(void);\nint main(int a) { return nowhere(); }\n")
    one_line_error(ia32k("run", str(p)), "undefined reference", "nowhere")


@pytest.mark.parametrize("args", [
    ["--quantum", "many"], ["--quantum", "-5"], ["--memory", "3M"],
    ["--memory", "lots"], ["--bogus"], ["--report"], ["--check=some"],
], ids=["quantum-word", "quantum-negative", "memory-small", "memory-word",
        "unknown", "report-no-file", "check-unknown"])
def test_bad_option(ia32k, ok_prog, args):
    one_line_error(ia32k("run", *args, ok_prog))


@pytest.mark.parametrize("check", ["--check", "--check=full"])
def test_checked_run_exits_as_unchecked(ia32k, ok_prog, check):
    cp = ia32k("run", check, ok_prog)
    assert cp.returncode == 0 and cp.stderr == "", cp.stderr


def test_no_program_and_no_command(ia32k):
    one_line_error(ia32k("run"))
    one_line_error(ia32k())
    one_line_error(ia32k("frob"))


def test_bad_image(ia32k, tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    one_line_error(ia32k("run", str(empty)), "empty")
    elf = tmp_path / "trunc.bin"
    elf.write_bytes(b"\x7fELF\x01\x01\x01")
    one_line_error(ia32k("run", str(elf)), "trunc")


def test_exit_status_follows_the_processes(ia32k, tmp_path, ok_prog):
    three = tmp_path / "three.s"
    three.write_text(EXIT3)
    cp = ia32k("run", ok_prog, ok_prog)
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "", "")
    assert ia32k("run", ok_prog, str(three), ok_prog).returncode == 1
    fault = tmp_path / "fault.s"
    fault.write_text("mov eax, [0]\n")
    cp = ia32k("run", ok_prog, str(fault))
    assert cp.returncode == 1
    assert "pid 2 (fault) killed: page fault" in cp.stderr


def test_report_keys_as_abi_says(ia32k, tmp_path, ok_prog):
    fault = tmp_path / "fault.s"
    fault.write_text("mov dword ptr [0xC0000000], 1\n")
    rep = tmp_path / "r.json"
    cp = ia32k("run", "--report", str(rep), ok_prog, str(fault))
    assert cp.returncode == 1
    r = json.loads(rep.read_text())
    assert set(r) >= {"processes", "stats"}
    assert {"instructions", "syscalls", "page_faults", "context_switches",
            "frames_total", "frames_free_at_boot", "frames_free_at_end",
            "threads_created", "tlb_shootdowns", "tlb_flushes"} <= \
        set(r["stats"])
    for p in r["processes"]:
        assert set(p) == {"pid", "name", "uid", "status", "fault", "threads"}
        assert p["threads"] == [{"tid": p["pid"], "status": p["status"]}]
    ok, bad = r["processes"]
    assert (ok["pid"], ok["name"], ok["uid"], ok["status"], ok["fault"]) == (
        1, "ok", 0, 0, None)
    assert (bad["pid"], bad["name"], bad["status"]) == (2, "fault", 270)
    assert bad["fault"] == {"vector": 14, "eip": 0x00400000,
                            "cr2": 0xC0000000, "error_code": 6,
                            "instruction": "mov dword ptr [0xc0000000], 1",
                            "tid": 2}
    assert r["stats"]["frames_free_at_end"] == \
        r["stats"]["frames_free_at_boot"]


def test_program_option_makes_a_program_spawnable(ia32k, tmp_path):
    child = tmp_path / "kid.s"
    child.write_text(EXIT3)
    parent = tmp_path / "parent.s"
    parent.write_text("""
        lea ebx, [name]
        mov ecx, 3
        mov eax, SYS_SPAWN
        int 0x80
        mov ebx, eax
        lea ecx, [status]
        mov eax, SYS_WAIT
        int 0x80
        mov ebx, [status]
        mov eax, SYS_EXIT
        int 0x80
    name: .ascii "kid"
    status: .long 0
    """)
    rep = tmp_path / "r.json"
    cp = ia32k("run", "--program", str(child), "--report", str(rep),
               str(parent))
    assert cp.returncode == 1
    r = json.loads(rep.read_text())
    assert [(p["name"], p["status"]) for p in r["processes"]] == [
        ("parent", 3), ("kid", 3)]


def test_quantum_is_deterministic(ia32k, tmp_path):
    prog = "userland/tests/cpubound.s"
    runs = []
    for i in range(2):
        rep = tmp_path / f"r{i}.json"
        cp = ia32k("run", "--quantum", "17011", "--report", str(rep),
                   prog, prog)
        assert cp.returncode == 0, cp.stderr
        runs.append((cp.stdout, json.loads(rep.read_text())))
    (out1, rep1), (out2, rep2) = runs
    assert out1 == out2 and rep1 == rep2
    lines = out1.split()
    assert sorted(lines) == sorted(f"{p}:{chr(97 + i)}" for p in (1, 2)
                                   for i in range(12))
    first_of_2 = lines.index("2:a")
    assert first_of_2 < lines.index("1:l")            # really interleaved
    assert rep1["stats"]["context_switches"] > 20


def test_two_programs_with_one_name_are_an_error(ia32k, tmp_path, ok_prog):
    (tmp_path / "d").mkdir()
    other = tmp_path / "d" / "ok.s"
    other.write_text(EXIT3)
    one_line_error(ia32k("run", ok_prog, str(other)), "ok")
    cp = ia32k("run", ok_prog, ok_prog)           # one file twice is fine
    assert cp.returncode == 0, cp.stderr
