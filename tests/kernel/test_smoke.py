"""Boot the kernel and run the simplest programs end to end."""

import json


def test_exit_status_is_reported(run_sources):
    r = run_sources({"e.s": "mov eax, SYS_EXIT\nmov ebx, 42\nint 0x80"})
    assert r.statuses == [42]
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


def test_write_reaches_stdout(run_sources):
    r = run_sources({"w.s": """
        mov eax, SYS_WRITE
        mov ebx, 1
        lea ecx, [msg]
        mov edx, 3
        int 0x80
        mov ebx, eax
        mov eax, SYS_EXIT
        int 0x80
    msg: .ascii "hi\\n"
    """})
    assert r.stdout == "hi\n"
    assert r.statuses == [3]


def test_c_family_demo_spawns_and_reaps(run_userland):
    r = run_userland("family")
    assert r.statuses == [0, 0, 0, 0]
    assert "reaped pid 4, status 0" in r.stdout


def test_cli_report(ia32k, tmp_path):
    prog = tmp_path / "p.s"
    prog.write_text("mov eax, [0]\n")
    rep = tmp_path / "r.json"
    cp = ia32k("run", "--report", str(rep), str(prog))
    assert cp.returncode == 1
    proc = json.loads(rep.read_text())["processes"][0]
    assert proc["status"] == 270
    assert proc["fault"]["cr2"] == 0
    assert proc["fault"]["error_code"] == 4
    assert proc["fault"]["instruction"] == "mov eax, dword ptr [0]"
