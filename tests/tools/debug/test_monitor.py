"""The monitor commands a newcomer reaches for: walk with an access kind
and the current thread by default, xp (physical memory), tlb, help."""

import pytest

from tests.tools.debug.test_debug import HERE, machine
from tools.debug.stops import DebugError


def at_first_stop(check):
    """Run two processes to HERE; call check(dbg, stop) at pid 1's stop."""
    seen = []

    def at_stop(dbg, stop):
        if not seen:
            dbg.client.g_thread = stop.pid      # as gdb's current thread
            seen.append(check(dbg, stop))
    k, dbg = machine(at_stop)
    dbg.add_breakpoint(HERE)
    k.run()
    assert seen
    return seen[0]


def test_walk_defaults_to_the_current_thread_and_takes_an_access():
    def check(dbg, stop):
        return (dbg.monitor("walk 0x400000"), dbg.monitor("walk 1 0x400000"),
                dbg.monitor("walk 0x400000 write"),
                dbg.monitor("walk 2 0x400000 exec"))
    mine, pid1, write, fetch = at_first_stop(check)
    assert mine == pid1 and mine.startswith("pid 1 va 0x00400000: read: ")
    assert "PA 0x" in mine
    # program text is read-only: a write faults with a protection #PF
    assert write.startswith("pid 1 va 0x00400000: write: ")
    assert "#PF 0x7 (user, write, protection)" in write
    assert fetch.startswith("pid 2 va 0x00400000: fetch: ")


def test_walk_usage_errors():
    def check(dbg, stop):
        dbg.client.g_thread = None
        with pytest.raises(DebugError, match="usage: walk"):
            dbg.monitor("walk 0x400000")            # no current thread
        with pytest.raises(DebugError, match="bad number"):
            dbg.monitor("walk 1 0x400000 sideways")
        return True
    assert at_first_stop(check)


def test_xp_reads_physical_memory():
    def check(dbg, stop):
        line = dbg.monitor("walk 0x400000")
        pa = int(line.rsplit("PA ", 1)[1], 16)
        return pa, dbg.monitor(f"xp {pa:#x} 20"), dbg.read_memory(
            stop.pid, 0x400000, 20), dbg.k.hw.memory
    pa, text, code, size = at_first_stop(check)
    rows = text.splitlines()
    assert len(rows) == 2 and rows[0].startswith(f"{pa:#010x}: ")
    dumped = bytes.fromhex("".join(r.split(": ", 1)[1][:47] for r in rows))
    assert dumped == code


def test_xp_outside_memory_is_an_error():
    def check(dbg, stop):
        with pytest.raises(DebugError, match="not inside physical memory"):
            dbg.monitor(f"xp {dbg.k.hw.memory - 4:#x} 16")
        return True
    assert at_first_stop(check)


def test_tlb_names_the_loaded_process_and_its_accessed_pages():
    def check(dbg, stop):
        return dbg.monitor("tlb"), dbg.monitor("tlb 0")
    default, cpu0 = at_first_stop(check)
    assert default == cpu0
    assert cpu0.startswith("cpu 0: pid 1 (p) loaded, CR3=0x")
    text_row = [ln for ln in cpu0.splitlines() if ln.startswith(
        "  0x00400000-")]
    assert len(text_row) == 1 and " A" in text_row[0]
    assert int(text_row[0].split()[-2]) >= 1      # code translated there


def test_help_lists_every_command():
    def check(dbg, stop):
        return dbg.monitor("help")
    text = at_first_stop(check)
    for cmd in ("walk [PID] VA [read|write|exec]", "xp ADDR [LEN]",
                "tlb [CPU]", "legend", "help"):
        assert cmd in text


def test_legend_explains_the_flags():
    def check(dbg, stop):
        return dbg.monitor("legend")
    text = at_first_stop(check)
    assert "COW" in text and "bits 31-22 pick the PDE" in text
