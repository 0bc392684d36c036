"""Builds that run side by side (pytest-xdist workers, `ia32k test --jobs`)
never see each other's half-written files."""

import threading
import uuid

from tools.toolchain.cc import build_elf
from tools.toolchain.gen_include import write_whole


def test_one_program_built_by_four_threads_at_once(tmp_path):
    src = tmp_path / "same.c"     # content never built before: no cache
    src.write_text(f'int main(void) {{ return 0; }} /* {uuid.uuid4()} */\n')
    start, results = threading.Barrier(8), []

    def build():
        start.wait()
        try:
            results.append(build_elf(src).read_bytes()[:4])
        except Exception as e:  # noqa: BLE001 - the failure is the finding
            results.append(e)
    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"\x7fELF"] * 8
    leftovers = list(build_elf(src).parent.glob("same-*.tmp"))
    assert leftovers == []


def test_generated_include_is_replaced_whole(tmp_path):
    path = tmp_path / "syscalls.h"
    path.write_text("old\n")
    write_whole(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["syscalls.h"]
