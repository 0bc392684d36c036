"""--races on real programs (tools/race/watch.py): racy and race-free
patterns between processes sharing a segment, in assembly and C. The
parent attaches the segment at 0x40000000, its child at 0x60000000: one
physical word, two virtual addresses."""

import io
import json
import re

import pytest

from tools.observe.debuginfo import LineTable
from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.race.watch import RaceWatch
from tools.toolchain.asm import assemble_source
from tools.toolchain.programs import Programs

PARENT_VA, CHILD_VA = 0x40000000, 0x60000000
LOAD, STORE = bytes([0x8B, 0x07]), bytes([0x89, 0x07])   # eax <-> [edi]

TEMPLATE = """
    cmp eax, 0
    jne child
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x5150
    mov ecx, 4096
    mov edx, 0x180
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, {parent_va}
    mov edx, 0
    int 0x80
    mov edi, eax
{before_spawn}
    mov eax, SYS_GETPID
    int 0x80
    mov edx, eax
    mov eax, SYS_SPAWN
    lea ebx, [name]
    mov ecx, {namelen}
    int 0x80
    mov ebp, eax
{parent}
    mov eax, SYS_WAIT
    mov ebx, ebp
    mov ecx, 0
    int 0x80
{after_wait}
    mov eax, SYS_EXIT
    mov ebx, 0
    int 0x80
child:
    mov ebp, eax
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x5150
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, {child_va}
    mov edx, 0
    int 0x80
    mov edi, eax
{child}
    mov eax, SYS_EXIT
    mov ebx, 0
    int 0x80
name: .ascii "{name}"
"""

COUNTER = """
    mov esi, 200
{p}loop:
    mov eax, [edi]
    inc eax
    mov [edi], eax
    dec esi
    jnz {p}loop
"""

LOCKED_COUNTER = """
    mov esi, 200
{p}loop:
    mov eax, 1
    xchg eax, [edi+4]
    test eax, eax
    jz {p}locked
    mov eax, SYS_YIELD
    int 0x80
    jmp {p}loop
{p}locked:
    mov eax, [edi]
    inc eax
    mov [edi], eax
    mov dword ptr [edi+4], 0
    dec esi
    jnz {p}loop
"""

YIELDS = """
    mov esi, 5
{p}yields:
    mov eax, SYS_YIELD
    int 0x80
    dec esi
    jnz {p}yields
"""


def program(name, parent="", child="", before_spawn="", after_wait=""):
    return TEMPLATE.format(name=name, namelen=len(name), parent_va=PARENT_VA,
                           child_va=CHILD_VA, parent=parent, child=child,
                           before_spawn=before_spawn, after_wait=after_wait)


@pytest.fixture
def races(run_sources):
    """races(name, cpus=1, seed=None, quantum=0, **parts) -> (Run, races)
    for the template filled with parts, run with --races."""
    def run(name, cpus=1, seed=None, quantum=0, **parts):
        src = program(name, **parts)
        r = run_sources({f"{name}.s": src}, races=True, cpus=cpus,
                        seed=seed, quantum=quantum)
        assert all(s == 0 for s in r.statuses), r.stderr
        return r, r.report["races"]
    return run


def eips_of(src, pattern):
    """Every address at which the byte pattern occurs in the flat image."""
    code = assemble_source(src)
    return {0x00400000 + m.start() for m in re.finditer(re.escape(pattern),
                                                        code)}


def test_plain_counter_is_reported_with_both_instructions(races):
    r, found = races("counter", parent=COUNTER.format(p="p"),
                     child=COUNTER.format(p="c"))
    src = program("counter", parent=COUNTER.format(p="p"),
                  child=COUNTER.format(p="c"))
    loads, stores = eips_of(src, LOAD), eips_of(src, STORE)
    assert len(loads) == len(stores) == 2
    sides = [s for race in found for s in (race["a"], race["b"])]
    assert {s["eip"] for s in sides if s["access"] == "read"} <= loads
    assert {s["eip"] for s in sides if s["access"] == "write"} <= stores
    kinds = {tuple(sorted((race["a"]["access"], race["b"]["access"])))
             for race in found}
    assert kinds == {("read", "write"), ("write", "write")}
    assert {s["pid"] for s in sides} == {1, 2}
    assert "data race on physical" in r.stderr
    assert "mov eax, dword ptr [edi]" in r.stderr
    assert "mov dword ptr [edi], eax" in r.stderr


def test_a_race_at_two_virtual_addresses_has_one_physical_address(races):
    _, found = races("counter2", parent=COUNTER.format(p="p"),
                     child=COUNTER.format(p="c"))
    assert found
    for race in found:
        va = {race[s]["pid"]: race[s]["va"] for s in "ab"}
        assert va == {1: PARENT_VA, 2: CHILD_VA}
    assert len({race["pa"] for race in found}) == 1
    assert found[0]["pa"] % 4096 == 0


def test_lock_protected_counter_is_not_reported(races):
    r, found = races("locked", cpus=2, seed=3,
                     parent=LOCKED_COUNTER.format(p="p"),
                     child=LOCKED_COUNTER.format(p="c"),
                     after_wait="    cmp dword ptr [edi], 400\n"
                                "    jne child\n")
    assert found == [] and "data race" not in r.stderr


def test_flag_polling_with_plain_loads_and_stores_is_reported(races):
    _, found = races(
        "flagpoll",
        child="    mov dword ptr [edi+8], 42\n"
              "    mov dword ptr [edi+4], 1\n",
        parent="ppoll:\n    mov eax, [edi+4]\n    test eax, eax\n"
               "    jnz pdone\n    mov eax, SYS_YIELD\n    int 0x80\n"
               "    jmp ppoll\npdone:\n    mov eax, [edi+8]\n")
    offsets = {race["pa"] % 4096 for race in found}
    assert offsets == {4, 8}                 # the flag and the data
    for race in found:
        assert {race["a"]["access"], race["b"]["access"]} == {"read", "write"}
        assert {race["a"]["pid"], race["b"]["pid"]} == {1, 2}


FUTEX_WAIT = """
    mov eax, SYS_FUTEX_WAIT
    lea ebx, [edi+4]
    mov ecx, 0
    int 0x80
    mov eax, [edi+8]
"""
CHILD_WAKES = """
    mov dword ptr [edi+8], 42
    mov dword ptr [edi+4], 1
    mov eax, SYS_FUTEX_WAKE
    lea ebx, [edi+4]
    mov ecx, 1
    int 0x80
"""


def test_futex_hand_off_is_not_reported(races):
    """The parent sleeps in futex_wait (one CPU, a long quantum: it runs
    until it blocks); the child writes the data and wakes it."""
    r, found = races("futexho", quantum=10**6, parent=FUTEX_WAIT,
                     child=CHILD_WAKES)
    assert r.report["ipc"]["futex_wakeups"] == 1
    assert found == []


def test_without_the_futex_the_same_hand_off_is_reported(races):
    _, found = races("futexno", quantum=10**6,
                     parent=YIELDS.format(p="p") + "    mov eax, [edi+8]\n",
                     child=CHILD_WAKES)
    assert [race["pa"] % 4096 for race in found] == [8]


RECV = """
    sub esp, 16
    mov eax, SYS_RECV
    mov ebx, esp
    mov ecx, 4
    mov edx, 0
    int 0x80
    mov eax, [edi+8]
"""
CHILD_SENDS = """
    mov dword ptr [edi+8], 42
    push 1
    mov eax, SYS_SEND
    mov ebx, ebp
    mov ecx, esp
    mov edx, 4
    int 0x80
    mov dword ptr [edi+12], 7
"""


def test_message_hand_off_is_not_reported(races):
    r, found = races("msgho", parent=RECV, child=CHILD_SENDS)
    assert r.report["ipc"]["messages"] == 1
    assert found == []


def test_a_write_after_the_send_is_not_covered_by_it(races):
    _, found = races("msglate", parent=RECV + "    mov eax, [edi+12]\n",
                     child=CHILD_SENDS)
    assert [race["pa"] % 4096 for race in found] == [12]


def test_spawn_and_wait_order_parent_and_child(races):
    """The parent writes before the spawn, the child reads it and writes;
    the parent reads after wait: no race."""
    _, found = races("spwait",
                     before_spawn="    mov dword ptr [edi+8], 5\n",
                     child="    mov eax, [edi+8]\n"
                           "    mov dword ptr [edi+12], 6\n",
                     after_wait="    mov eax, [edi+12]\n")
    assert found == []


def test_reading_before_the_wait_is_reported(races):
    _, found = races("spnowait",
                     child="    mov dword ptr [edi+12], 6\n",
                     parent=YIELDS.format(p="p") + "    mov eax, [edi+12]\n")
    assert [(race["a"]["access"], race["b"]["access"]) for race in found] \
        == [("write", "read")]


# -- C: race.c and sync.h ------------------------------------------------
MODES = {"plain": 1, "xadd": 2, "spinlock": 3, "mutex": 4}


def run_race_c(mode, seed=7):
    out, err = io.BytesIO(), io.BytesIO()
    k = new_kernel(Programs(), cpus=2, seed=seed, races=True,
                   console=Console(out, err))
    parent = k.create_process("race", arg=MODES[mode])
    k.run()
    assert parent.status == 0, out.getvalue()
    return k.observer(RaceWatch), err.getvalue().decode()


def test_race_c_plain_reports_the_load_and_the_store():
    races, err = run_race_c("plain")
    found = races.json()
    assert len(found) == 2
    texts = {(r.a.eip, races.insns["race"][r.a.eip][1])
             for r in races.verdicts} | \
        {(r.b.eip, races.insns["race"][r.b.eip][1])
         for r in races.verdicts}
    load = [e for e, t in texts if t.startswith("mov eax, dword ptr [")]
    store = [e for e, t in texts if t.startswith("mov dword ptr [")]
    assert len(load) == 1 and len(store) == 1
    assert store[0] - load[0] == 3          # mov (2 bytes), inc (1), mov
    assert {f["a"]["pid"] for f in found} | {f["b"]["pid"] for f in found} \
        == {2, 3}
    assert re.search(r"\[race\.c:\d+\]", err)   # DWARF file:line


@pytest.mark.parametrize("mode", ["xadd", "spinlock", "mutex"])
def test_race_c_with_atomics_or_locks_is_not_reported(mode):
    for seed in (1, 7):
        races, err = run_race_c(mode, seed)
        assert races.json() == [], err


def run_userland_races(name, arg=0, cpus=2, seed=5, quantum=0):
    out, err = io.BytesIO(), io.BytesIO()
    k = new_kernel(Programs(), cpus=cpus, seed=seed, quantum=quantum,
                   races=True, console=Console(out, err))
    p = k.create_process(name, arg=arg)
    k.run()
    assert p.status == 0, out.getvalue() + err.getvalue()
    return k.observer(RaceWatch), err.getvalue().decode()


def test_semaphore_and_condition_variable_are_race_free():
    races, err = run_userland_races("sync_semcond")
    assert races.det.sync_accesses > 100
    assert races.json() == [], err


@pytest.mark.parametrize("zero_copy", [0, 4])
def test_spsc_ring_is_race_free(zero_copy):
    """ring_xfer, 1 MiB through a 64 KiB ring (arg: param << 5 | role)."""
    races, err = run_userland_races("ring_xfer", arg=(1 << 5) | zero_copy)
    assert races.det.accesses > 1000
    assert races.json() == [], err


def test_hooks_follow_the_attachments():
    """No segment attached: no memory hook (nothing paid); after the last
    detach the hook is gone again."""
    races, _ = run_race_c("xadd")
    assert not any(log.enabled for log in races.logs)
    assert races.watch.count == 0
    assert races.det.accesses > 10000


def test_ia32k_run_races_reports_race_c_plain(ia32k, tmp_path):
    """The command line of `make run`: the plain counter's pair, both pids,
    both virtual addresses (the second child attaches at 0x60000000), one
    physical address; the other modes add nothing."""
    report = tmp_path / "r.json"
    r = ia32k("run", "--cpus", "2", "--seed", "7", "--races", "--report",
              str(report), "userland/demo/race.c")
    assert r.returncode == 0, r.stderr
    assert "race plain: total" in r.stdout and "data race" not in r.stdout
    assert r.stderr.count("ia32k: data race on physical") == 2
    found = json.loads(report.read_text())["races"]
    assert len(found) == 2
    assert {(f["a"]["va"], f["b"]["va"]) for f in found} == \
        {(0x40000000, 0x60000000)}
    assert len({f["pa"] for f in found}) == 1
    assert f"{found[0]['pa']:#010x}" in r.stderr


def test_without_races_the_report_has_no_races_key(ia32k, tmp_path):
    report = tmp_path / "r.json"
    r = ia32k("run", "--report", str(report), "userland/demo/offlist.c")
    assert r.returncode == 0, r.stderr
    assert "races" not in json.loads(report.read_text())


def test_no_debug_info_means_no_line():
    assert LineTable(b"not an ELF").line(0x401000) is None


HANDOFF = {"message": 1, "futex": 2, "wait": 3, "flag": 4}


@pytest.mark.parametrize("mode", ["message", "futex", "wait"])
def test_c_hand_offs_are_race_free(mode):
    """One CPU, a long quantum: the parent reaches its recv, futex_wait or
    wait before the child runs (so the futex is a real sleep)."""
    races, err = run_userland_races("race_handoff", arg=HANDOFF[mode], cpus=1,
                                seed=None, quantum=10**6)
    assert races.det.accesses >= 32
    assert races.json() == [], err


def test_c_flag_polling_is_reported_on_the_flag_and_the_data():
    races, err = run_userland_races("race_handoff", arg=HANDOFF["flag"], cpus=2)
    found = races.json()
    offsets = {f["pa"] % 4096 for f in found}
    assert 0 in offsets                     # the flag
    assert offsets - {0}                    # and the data
    assert all({f["a"]["va"], f["b"]["va"]} & {0x60000000 + off
               for off in range(0, 4096, 4)} for f in found)
    assert "[race_handoff.c:" in err


# -- accesses across a page boundary ---------------------------------------
# Three pages, touched in the order 1, 0, 2: page 0's frame is physically
# followed by page 2's, not by page 1's.
THREE_PAGES = """
    mov dword ptr [edi+0x1000], 0
    mov dword ptr [edi], 0
    mov dword ptr [edi+0x2000], 0
"""
STRADDLE = """
    mov eax, 0x11223344
    mov [edi+0xFFE], eax
"""


def straddle_run(run_sources, child, paging):
    src = program("straddle", parent=STRADDLE, child=child,
                  before_spawn=THREE_PAGES).replace("mov ecx, 4096",
                                                    "mov ecx, 0x3000")
    r = run_sources({"straddle.s": src}, races=True, paging=paging)
    assert all(s == 0 for s in r.statuses), r.stderr
    seg = next(iter(r.kernel.shm.segments.values()))
    f0, f1, f2 = seg.frames
    assert f0 + 0x1000 == f2 and f0 + 0x1000 != f1
    return r.report["races"], f1


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_a_store_across_pages_races_on_the_second_pages_frame(run_sources,
                                                               paging):
    found, f1 = straddle_run(run_sources, "    mov ax, [edi+0x1000]\n",
                             paging)
    assert len(found) == 1
    assert found[0]["pa"] == f1
    assert {found[0]["a"]["va"], found[0]["b"]["va"]} == \
        {PARENT_VA + 0x1000, CHILD_VA + 0x1000}


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_a_store_across_pages_is_no_race_on_the_adjacent_frame(run_sources,
                                                              paging):
    found, _ = straddle_run(run_sources, "    mov ax, [edi+0x2000]\n",
                            paging)
    assert found == []


# The parent attaches the segment right after its own image, at 0x402000,
# and stores a dword at the image's last two bytes and the segment's first.
AFTER_IMAGE = """
    mov eax, 0x11223344
    mov [edi-2], eax
"""


@pytest.mark.parametrize("paging", ["32", "pae"])
def test_a_store_from_a_private_page_into_a_segment_is_seen(run_sources,
                                                           paging):
    src = program("afterimg", parent=AFTER_IMAGE,
                  child="    mov ax, [edi]\n")
    src = src.replace(f"mov ecx, {PARENT_VA}", "mov ecx, 0x402000")
    src += ".align 4096\n.zero 4096\n"
    assert len(assemble_source(src)) == 0x2000
    r = run_sources({"afterimg.s": src}, races=True, paging=paging)
    assert all(s == 0 for s in r.statuses), r.stderr
    seg = next(iter(r.kernel.shm.segments.values()))
    [found] = r.report["races"]
    assert found["pa"] == seg.frames[0]
    assert {found["a"]["va"], found["b"]["va"]} == {0x402000, CHILD_VA}
