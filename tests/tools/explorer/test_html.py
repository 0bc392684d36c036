"""The data the --html page embeds (tools/explorer/page.py): the kernel's own walks,
tables and trace, complete enough that the walker itself, run over the
embedded entries, finds what the kernel found. The page in a real browser:
tests/test_html_browser.py."""

import io
import json
import re

import pytest

from emu import walk as mmu
from emu.x86 import (PAGE_SIZE, PAGING_32, PTE_A, PTE_COW, PTE_D,
                     pte_flags_str)
from tools.explorer.page import (EVENT_FIELDS, Explorer, embed_json, js_value,
                                 page_html)
from kernel.kernel import Console, Kernel
from tools.observe.trace import Tracer, WalkRequest
from tools.toolchain.programs import Programs

F = {f: i for i, f in enumerate(EVENT_FIELDS)}
WALKS = [WalkRequest(1, 0x40000000), WalkRequest(2, 0x60000004),
         WalkRequest(2, 0x60001000, mmu.WRITE), WalkRequest(1, 0x00400000,
                                                           mmu.WRITE),
         WalkRequest(2, 0x00500000), WalkRequest(1, 0xC0000000),
         WalkRequest(2, 0xC0001000), WalkRequest(1, 0x12345678)]


def explore(names, walks=()):
    """Run names with an Explorer attached to a Tracer writing JSON lines;
    return (kernel, page data, the trace's records)."""
    k = Kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()),
               quantum=100000)
    ex = Explorer("test").attach(k)
    out = io.BytesIO()
    Tracer(out, "jsonl", walks=walks, sinks=[ex.record]).attach(k)
    k.boot(names)
    k.run()
    return k, json.loads(json.dumps(ex.data())), \
        [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(scope="module")
def shmshare():
    return explore(["shmshare"], WALKS)


def read32_of(tables):
    """A read32(pa) over the embedded tables: each run of entries expanded
    (frames step by a page), every other address 0."""
    mem = {}
    for base, runs in tables:
        for i, v, n, _ in runs:
            for k in range(n):
                mem[base + 4 * (i + k)] = v + k * PAGE_SIZE
    return lambda pa: mem.get(pa, 0)


def test_every_process_is_there_with_its_exit_tables(shmshare):
    k, data, _ = shmshare
    assert [p["pid"] for p in data["processes"]] == [1, 2]
    for p in data["processes"]:
        assert p["status"] == 0 and p["name"] == "shmshare"
        assert p["tables"][0][0] == p["cr3"]          # the directory first
        assert data["events"][p["exit_event"]][:2] == ["exit", p["pid"]]
    assert "reads" in data["processes"][0]["output"]


def test_the_walker_over_the_embedded_entries_finds_what_the_kernel_did(
        shmshare):
    """emu.walk itself, reading only the embedded entries, gives each
    --walk exactly (faults included): the tables are complete and exact."""
    _, data, _ = shmshare
    procs = {p["pid"]: p for p in data["processes"]}
    assert len(data["walks"]) == len(WALKS)
    assert any(w["error_code"] is not None for w in data["walks"])
    for w in data["walks"]:
        p = procs[w["pid"]]
        again = mmu.walk(read32_of(p["tables"]), p["cr3"], w["va"],
                         w["access"], mode=PAGING_32)
        assert [[lv.index, lv.addr, lv.value] for lv in again.levels] == \
            w["levels"]
        assert (again.pa, again.error_code) == (w["pa"], w["error_code"])


def replay(data, pid, upto):
    """The entries the events up to index upto wrote for pid: addr -> value
    (as the page replays them: an unmap clears its leaf)."""
    mem = {}
    for e in data["events"][:upto]:
        if e[F["pid"]] != pid or e[F["kind"]] not in ("map", "unmap",
                                                      "fault"):
            continue
        levels = e[F["resolved"]] if e[F["kind"]] == "fault" \
            else e[F["levels"]]
        for n, (_, addr, v) in enumerate(levels or ()):
            last = n == len(levels) - 1
            mem[addr] = 0 if e[F["kind"]] == "unmap" and last else v
    return {a: v for a, v in mem.items() if v}


def test_replaying_the_events_rebuilds_each_exit_snapshot(shmshare):
    """Every user entry at exit was written by a recorded event with that
    value, up to the A and D bits the MMU sets itself."""
    _, data, _ = shmshare
    for p in data["processes"]:
        snap, kernel = {}, {t[0] for t in data["kernel"]["tables"]}
        for base, runs in p["tables"]:
            for i, v, n, _ in runs:
                if base not in kernel and (
                        base != p["cr3"] or
                        i < data["mode"]["kernel_index"]):
                    for k in range(n):
                        snap[base + 4 * (i + k)] = v + k * PAGE_SIZE
        ad = ~(PTE_A | PTE_D)
        got = replay(data, p["pid"], p["exit_event"])
        assert {a: v & ad for a, v in got.items()} == \
            {a: v & ad for a, v in snap.items()}


def test_the_shared_frame_is_named_by_both_processes(shmshare):
    """At the child's exit, both processes' entries name one frame, at
    their own virtual addresses."""
    _, data, _ = shmshare
    child = data["processes"][1]
    parent_entries = replay(data, 1, child["exit_event"])
    child_leaf = read32_of(child["tables"])
    pte_child = mmu.walk(child_leaf, child["cr3"], 0x60000000,
                         mode=PAGING_32)
    assert pte_child.ok
    frame = pte_child.pa
    assert any(v & ~0xFFF == frame for v in parent_entries.values())


def test_events_are_the_trace_records(shmshare):
    """One event per record the trace wrote, in order, with its walk."""
    _, data, recs = shmshare
    events = [e for e in data["events"] if e[F["kind"]] not in ("spawn",
                                                                "exit")]
    recs = [r for r in recs if r["event"] != "walk"]
    assert len(events) == len(recs) > 0
    for e, r in zip(events, recs):
        assert [e[F[f]] for f in ("kind", "pid", "va", "access", "pa",
                                  "cr3")] == \
            [r[f] for f in ("event", "pid", "va", "access", "pa", "cr3")]
        assert e[F["levels"]] == [[lv["index"], lv["addr"], lv["value"]]
                                  for lv in r["levels"]]
        assert data["backings"][e[F["backing"]]] == r["backing"]
        if r["event"] == "fault":
            assert e[F["outcome"]] == r["outcome"]
            assert e[F["error_code"]] == r["fault"]["error_code"]


def test_events_carry_the_trace_in_order(shmshare):
    _, data, _ = shmshare
    kinds = [e[F["kind"]] for e in data["events"]]
    assert kinds[0] == "map" and kinds.count("exit") == 2
    faults = [e for e in data["events"] if e[F["kind"]] == "fault"]
    assert {e[F["outcome"]] for e in faults} == {"demand-zero", "paged-in"}
    for e in faults:
        assert e[F["pa"]] is not None and e[F["resolved"]]
    assert {data["backings"][e[F["backing"]]] for e in faults} >= {"stack",
                                                                  "shm 1"}


def test_the_shm_table_as_the_kernel_describes_it(shmshare):
    k, data, _ = shmshare
    snaps = data["segments"]
    first = snaps[0]["segments"][0]   # once created and attached by pid 1
    assert [a["pid"] for a in first["attachments"]] == [1]
    shm = data["backings"].index("shm 1")
    assert snaps[0]["at"] <= next(i for i, e in enumerate(data["events"])
                                  if e[F["backing"]] == shm)
    child_exit = data["processes"][1]["exit_event"]
    seg = [s for s in snaps if s["at"] <= child_exit][-1]["segments"][0]
    assert seg["key"] == 0x5348 and seg["size"] == 8192
    assert {a["pid"] for a in seg["attachments"]} == {1, 2}
    assert sum(n for _, _, n in seg["frame_runs"]) == seg["frames"]
    assert snaps[-1]["segments"] == []               # destroyed at the end


def test_the_kernel_half_is_kept_once(shmshare):
    """The kernel half, the same in every directory, is also embedded on
    its own (for processes the page replays before their exit)."""
    _, data, _ = shmshare
    top, tables = data["kernel"]["top"], data["kernel"]["tables"]
    assert top and all(r[0] >= data["mode"]["kernel_index"] for r in top)
    for p in data["processes"]:
        assert [r for r in p["tables"][0][1] if r in top] == top
        assert all(t in p["tables"] for t in tables)


def test_flag_and_fault_texts_come_from_the_kernel(shmshare):
    _, data, _ = shmshare
    assert data["flags"]["PTE"][str(0x67)] == "P W U A D"
    assert data["fault_text"]["6"] == "user, write, not present"
    assert [lv["bits"] for lv in data["mode"]["levels"]] == [10, 10]


def test_embedded_json_cannot_end_its_script_element():
    nasty = {"name": "</script><script>alert(1)</script><!--", "q": "\"'&"}
    text = embed_json(nasty)
    assert not re.search(r"[<>&]", text)
    assert json.loads(text) == nasty


def test_the_template_is_filled_in_one_pass():
    """A title holding a placeholder's name is text, never filled in."""
    data = {"title": "__DATA__x __TITLE__", "events": ["__TITLE__"]}
    page = page_html(data)
    title = re.search("<title>(.*)</title>", page).group(1)
    assert title == "__DATA__x __TITLE__"
    body = re.search('type="application/json">(.*?)</script>', page).group(1)
    assert json.loads(body) == data


def test_values_beyond_a_double_become_hex_strings():
    assert js_value(0x1234) == 0x1234
    assert js_value(1 << 63 | 0x67) == "0x8000000000000067"


def test_output_is_kept_per_process_and_bounded(tmp_path):
    src = tmp_path / "chatty.s"
    src.write_text("""
        mov ecx, 3000
    again:
        push ecx
        mov eax, SYS_WRITE
        mov ebx, 1
        lea ecx, [msg]
        mov edx, 6
        int 0x80
        pop ecx
        dec ecx
        jnz again
        mov eax, SYS_EXIT
        xor ebx, ebx
        int 0x80
    msg: .ascii "hello\\n"
    """)
    progs = Programs()
    name = progs.add(src)
    k = Kernel(progs, console=Console(io.BytesIO(), io.BytesIO()))
    ex = Explorer().attach(k)
    k.boot([name])
    k.run()
    out = ex.data()["processes"][0]["output"]
    assert out.startswith("hello\n") and 4000 < len(out) <= 8192


def test_an_unwritable_page_path_stops_before_the_run(ia32k, tmp_path):
    r = ia32k("run", "--html", str(tmp_path / "no" / "such" / "p.html"),
              "userland/demo/shmshare.c")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"ia32k: --html {tmp_path}/no/such/p.html: cannot write: "
        "No such file or directory"]


def test_trace_writes_the_page_too(ia32k, tmp_path):
    page = tmp_path / "p.html"
    r = ia32k("trace", "--trace", str(tmp_path / "t.txt"), "--html",
              str(page), "userland/demo/shmshare.c")
    assert r.returncode == 0, r.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "__DATA__" not in text
    data = json.loads(re.search(r'type="application/json">(.*?)</script>',
                                text, re.S)[1])
    lines = (tmp_path / "t.txt").read_text().splitlines()
    records = [ln for ln in lines if ln.split()[0] in ("map", "unmap",
                                                       "fault")]
    events = [e for e in data["events"] if e[F["kind"]] not in ("spawn",
                                                                "exit")]
    assert len(events) == len(records) > 0     # one event per trace record
    assert not re.search(r"(src|href)=\"?(https?:)?//", text)   # no fetches


def test_a_failed_start_leaves_no_page_behind(ia32k, tmp_path):
    page = tmp_path / "p.html"
    r = ia32k("run", "--html", str(page), str(tmp_path / "missing.c"))
    assert r.returncode == 2 and not page.exists()


def test_the_page_reads_the_pae_mode_from_the_kernel():
    """Under --paging pae the page's mode has three levels (a PDPTE without
    rights), NX and the I/D bit, and every snapshot starts at the PDPT."""
    from emu import x86
    k = Kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()),
               paging="pae")
    ex = Explorer("pae").attach(k)
    k.boot(["shmshare"])
    k.run()
    mode = json.loads(json.dumps(ex.data()))["mode"]
    assert [lv["name"] for lv in mode["levels"]] == ["PDPTE", "PDE", "PTE"]
    assert [lv["rights"] for lv in mode["levels"]] == [False, True, True]
    assert [lv["bits"] for lv in mode["levels"]] == [2, 9, 9]
    assert mode["entry_bytes"] == 8 and mode["kernel_index"] == 3
    assert int(mode["bits"]["NX"], 16) == x86.PTE_NX
    assert mode["pf"]["I"] == x86.PF_I


@pytest.fixture(scope="module")
def cow():
    return explore(["cow"])


def test_a_forked_child_is_named_fork_and_its_parents_entries_follow(cow):
    """Each fork record (the child's entry) is followed by the parent's
    entry for the same page, read from the parent's tables: the same
    frame, copy-on-write on both sides where the page was writable."""
    _, data, recs = cow
    ev = data["events"]
    starts = [(e[F["kind"]], e[F["pid"]]) for e in ev
              if e[F["va"]] is None and e[F["kind"]] != "exit"]
    assert starts == [("spawn", 1), ("fork", 2), ("fork", 3)]
    children = [i for i, e in enumerate(ev) if e[F["kind"]] == "fork"
                and e[F["va"]] is not None and e[F["outcome"]] is None]
    assert len(children) == len([r for r in recs if r["event"] == "fork"])
    for i in children:
        child, parent = ev[i], ev[i + 1]
        assert parent[F["outcome"]] == "parent" and parent[F["pid"]] == 1
        assert parent[F["va"]] == child[F["va"]]
        c, p = child[F["levels"]][-1][2], parent[F["levels"]][-1][2]
        assert c & ~0xFFF == p & ~0xFFF and c & PTE_COW == p & PTE_COW
    assert any(ev[i][F["levels"]][-1][2] & PTE_COW for i in children)


def test_output_is_kept_with_the_event_it_followed(cow):
    _, data, _ = cow
    for p in data["processes"]:
        pieces = p["output_at"]
        assert "".join(text for _, text in pieces) == p["output"] != ""
        ats = [at for at, _ in pieces]
        assert ats == sorted(ats) and len(set(ats)) == len(ats)
        first = next(i for i, e in enumerate(data["events"])
                     if e[F["pid"]] == p["pid"])
        assert first <= ats[0] and ats[-1] < p["exit_event"]


def test_every_entry_has_its_flags_under_its_own_bits():
    """Under PAE the flag texts are keyed by every bit pte_flags_str
    decodes, NX and the copy-on-write mark included: the page finds each
    entry's text by value & flag_mask."""
    k = Kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()),
               paging="pae")
    ex = Explorer("pae").attach(k)
    Tracer(io.BytesIO(), "jsonl", sinks=[ex.record]).attach(k)
    k.boot(["cow"])
    k.run()
    data = json.loads(json.dumps(ex.data()))
    mask = int(data["mode"]["flag_mask"], 16)
    names = [lv["name"] for lv in data["mode"]["levels"]]
    seen = set()
    for e in data["events"]:
        for levels in (e[F["levels"]], e[F["resolved"]]):
            for n, (_, _, v) in enumerate(levels or ()):
                v = int(v, 16) if isinstance(v, str) else v
                text = data["flags"][names[n]][str(v & mask)]
                assert text == pte_flags_str(v, pte=names[n] == "PTE")
                seen.update(text.split())
    assert {"NX", "COW"} <= seen
