"""A C program killed by a CPU exception is reported with the file:line of
the faulting instruction: in the kernel's message, in --report and in the
explorer's data; assembly (no debug information) has none."""

import json

NULL_READ = """#include "ia32k.h"
int main(int a)
{
    volatile int *p = (int *)0;
    return *p;
}
"""


def test_c_fault_names_file_and_line(ia32k, tmp_path):
    prog = tmp_path / "nullread.c"
    prog.write_text(NULL_READ)
    rep, page = tmp_path / "r.json", tmp_path / "p.html"
    cp = ia32k("run", "--report", str(rep), "--html", str(page), str(prog))
    assert cp.returncode == 1
    [msg] = [ln for ln in cp.stderr.splitlines() if "killed" in ln]
    assert "page fault" in msg and "[nullread.c:5]" in msg
    fault = json.loads(rep.read_text())["processes"][0]["fault"]
    assert fault["line"] == "nullread.c:5" and fault["cr2"] == 0
    assert '"line":"nullread.c:5"' in page.read_text()


def test_assembly_fault_has_no_line(ia32k, tmp_path):
    prog = tmp_path / "asmfault.s"
    prog.write_text("mov eax, dword ptr [0]\n")
    rep = tmp_path / "r.json"
    cp = ia32k("run", "--report", str(rep), str(prog))
    assert cp.returncode == 1 and "ptr [0]; cr2=" in cp.stderr
    assert "line" not in json.loads(rep.read_text())["processes"][0]["fault"]
