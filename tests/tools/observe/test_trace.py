"""Page-walk traces (tools/observe/trace.py) of real runs, and the CLI around them."""

import io
import json
from types import SimpleNamespace

import pytest

from emu import x86
from emu.walk import WRITE
from kernel.kernel import Console, Kernel
from tools.observe.report import build_report
from tools.observe.trace import Tracer, WalkRequest, fault_access, parse_walk_request
from kernel.mm.vm import Region, RegionKind
from tools.toolchain.programs import Programs

IMAGE_VA = 0x00400000
SHM_VA = 0x60000000
QUANTUM = 100000                 # reproducible interleaving


def traced(names, fmt="jsonl", **kw):
    """Boot names with a Tracer writing fmt to memory; run to the end.
    Returns (kernel, report, records: dicts for jsonl, lines for text)."""
    out = io.BytesIO()
    k = Kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()),
               quantum=QUANTUM)
    Tracer(out, fmt, **kw).attach(k)
    k.boot(names)
    k.run()
    text = out.getvalue().decode()
    recs = [json.loads(t) for t in text.splitlines()] if fmt == "jsonl" \
        else text.splitlines()
    return k, build_report(k), recs


@pytest.fixture(scope="module")
def pagewalk():
    walks = [WalkRequest(1, IMAGE_VA), WalkRequest(2, IMAGE_VA),
             WalkRequest(2, 0xBFFFFFFC, WRITE)]
    return traced(["pagewalk"], walks=walks)


def events(recs, name, pid=None):
    return [r for r in recs if r["event"] == name
            and (pid is None or r["pid"] == pid)]


def test_scenario_ends_as_designed(pagewalk):
    _, report, _ = pagewalk
    assert [p["status"] for p in report["processes"]] == [0, 270]


def test_records_carry_the_required_fields(pagewalk):
    *_, recs = pagewalk
    assert {r["event"] for r in recs} == {"map", "unmap", "fault", "walk"}
    for r in recs:
        assert {"event", "pid", "cr3", "va", "access", "levels", "pa",
                "fault"} <= r.keys()
        assert all(isinstance(r[f], int) for f in ("pid", "cr3", "va"))
        assert r["pa"] is not None or r["fault"]["error_code"] is not None
        for lv in r["levels"]:
            assert isinstance(lv["addr"], int) and isinstance(lv["value"], int)


def test_demand_zero_faults_show_the_walk_before_and_after(pagewalk):
    *_, recs = pagewalk
    faults = events(recs, "fault", pid=1)
    assert faults and all(f["outcome"] == "demand-zero" for f in faults)
    first = faults[0]
    assert first["va"] == 0xBFFFFFFC and first["access"] == "write"
    assert first["fault"]["error_code"] == x86.PF_U | x86.PF_W
    assert first["levels"][0]["value"] == 0          # no page table yet
    after = first["resolved"]["levels"]
    assert [lv["level"] for lv in after] == ["PDE", "PTE"]
    assert first["pa"] == (after[1]["value"] & x86.PTE_ADDR) | 0xFFC
    assert first["backing"] == "stack"


def test_the_walker_agrees_with_the_cpu_on_every_fault(pagewalk):
    *_, recs = pagewalk
    for f in events(recs, "fault"):
        assert f["fault"]["walker_error_code"] == f["fault"]["error_code"]


def test_fatal_fault_is_the_one_the_report_names(pagewalk):
    _, report, recs = pagewalk
    fatal = [f for f in events(recs, "fault") if f["outcome"] == "fatal"]
    assert len(fatal) == 1 and fatal[0]["pid"] == 2
    rep = report["processes"][1]["fault"]
    assert (fatal[0]["va"], fatal[0]["fault"]["error_code"], fatal[0]["eip"]) \
        == (rep["cr2"], rep["error_code"], rep["eip"])
    assert fatal[0]["fault"]["reason"] == "protection"
    assert fatal[0]["pa"] is None and fatal[0]["resolved"] is None


def test_every_pte_written_and_cleared_is_traced(pagewalk):
    k, _, recs = pagewalk
    filled = [f for f in events(recs, "fault") if f["outcome"] != "fatal"]
    maps, unmaps = events(recs, "map"), events(recs, "unmap")
    assert len(maps) + len(filled) == k.vm.stats["ptes_written"]
    mapped = {(r["pid"], r["va"] & ~0xFFF) for r in maps + filled}
    assert mapped == {(r["pid"], r["va"]) for r in unmaps}
    stack = [r for r in unmaps if r["backing"] == "stack"]
    image = [r for r in unmaps if r["backing"].startswith("image")]
    shared = [r for r in unmaps if r["backing"].startswith("shm")]
    assert stack and all(r["refs"] == 0 for r in stack)
    assert any(r["refs"] >= 1 for r in image)   # program text: the cache's
    assert shared and all(r["refs"] >= 1 for r in shared)   # segment's own


def test_unmap_shows_the_bits_the_cpu_set(pagewalk):
    *_, recs = pagewalk
    stack = [r for r in events(recs, "unmap") if r["backing"] == "stack"]
    assert stack and all(r["levels"][1]["flags"] == "P W U A D"
                         for r in stack)


def test_requested_walks_at_exit(pagewalk):
    *_, recs = pagewalk
    walks = events(recs, "walk")
    assert [(w["pid"], w["va"]) for w in walks] == \
        [(2, IMAGE_VA), (2, 0xBFFFFFFC), (1, IMAGE_VA)]
    img1, img2 = walks[2], walks[0]
    assert img1["pa"] == img2["pa"]                # shared program text
    assert walks[1]["access"] == "write" and walks[1]["pa"] is not None
    order = [r["event"] for r in recs if r["pid"] == 2]
    assert order.index("walk") < order.index("unmap")   # before teardown


def test_text_format_one_block_per_walk():
    _, _, lines = traced(["pagewalk"], fmt="text")
    fault = next(i for i, t in enumerate(lines) if t.startswith("fault"))
    assert lines[fault].startswith("fault  pid 1 write 0xbffffffc at eip ")
    assert "→ PDE[767]@" in lines[fault]
    assert lines[fault].endswith("#PF 0x6 (user, write, not present)")
    assert lines[fault + 1].startswith("       demand-zero: CR3=")
    assert " → PTE[1023]@" in lines[fault + 1] and "(P W U) → PA 0x" in \
        lines[fault + 1]
    assert any(t.startswith("unmap  pid 2 0x00400000 (image pagewalk)")
               for t in lines)


TRACE_EVENTS = ("fault_begin", "fault_end", "pte_mapped", "pte_unmapping",
                "pte_forked", "cow_broken")


def trace_hooks(k):
    return [getattr(k.hooks, e) for e in TRACE_EVENTS if getattr(k.hooks, e)]


def test_tracing_off_installs_no_hook(run_userland):
    r = run_userland("pagewalk")
    assert trace_hooks(r.kernel) == []
    assert r.kernel.observer(Tracer) is None


def test_walks_and_dumps_alone_install_no_trace_hook():
    out = io.BytesIO()
    k = Kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()))
    Tracer(out, walks=[WalkRequest(1, IMAGE_VA)], trace=False).attach(k)
    k.boot(["pagewalk"])
    k.run()
    assert trace_hooks(k) == []
    assert out.getvalue().decode().startswith("walk   pid 1 read 0x00400000")


def test_a_shared_frame_shows_in_both_walks_and_the_frame_map():
    """What shm_attach/detach do (kernel/mm/vm.py calls with a shm Region) is
    traced without any shm-specific code: both walks end at one frame."""
    out = io.BytesIO()
    k = Kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()))
    tr = Tracer(out, "jsonl", dump_pt=True).attach(k)
    p1, p2 = k.boot(["pagewalk", "pagewalk"])
    frame = k.vm.alloc_zeroed()                     # the segment's reference
    seg = SimpleNamespace(id=7)
    for p in (p1, p2):
        k.frames.incref(frame)                      # the PTE's reference
        p.aspace.add_region(Region(SHM_VA, SHM_VA + 4096, True, RegionKind.SHM,
                                   obj=seg))
        p.aspace.map_pages(SHM_VA, [frame], x86.PTE_P | x86.PTE_W | x86.PTE_U)
    tr.dump(p1, "now")
    for p in (p1, p2):
        p.aspace.remove_region(p.aspace.region_at(SHM_VA))
    recs = [json.loads(t) for t in out.getvalue().decode().splitlines()]
    maps = [r for r in events(recs, "map") if r["va"] == SHM_VA]
    assert [(r["pid"], r["pa"], r["backing"]) for r in maps] == \
        [(1, frame, "shm 7"), (2, frame, "shm 7")]
    run = next(r for r in events(recs, "frames")[0]["runs"] if r["pa"] == frame)
    assert run["refs"] == 3 and {o["pid"] for o in run["owners"]} == {1, 2}
    unmaps = [r for r in events(recs, "unmap") if r["va"] == SHM_VA]
    assert [r["refs"] for r in unmaps] == [2, 1]    # the segment still holds


def test_fault_access_kinds():
    assert fault_access(x86.PF_U | x86.PF_W, 0x5000, 0x400000) == "write"
    assert fault_access(x86.PF_U, 0x5000, 0x5000) == "fetch"
    assert fault_access(x86.PF_U, 0x401000, 0x400FFE) == "fetch"  # straddles
    assert fault_access(x86.PF_U, 0x5000, 0x400000) == "read"


def test_parse_walk_request():
    assert parse_walk_request("2:0x60001004") == WalkRequest(2, 0x60001004)
    assert parse_walk_request("3:4096:fetch").access == "fetch"
    for bad in ("2", "x:1", "1:2:3", "1:0x100000000", "1:2:exec"):
        with pytest.raises(ValueError):
            parse_walk_request(bad)


def test_cli_trace_to_stdout_and_jsonl_file(ia32k, tmp_path):
    cp = ia32k("trace", "--walk", "1:0x400000", "userland/demo/pagewalk.c")
    assert cp.returncode == 1                       # pid 2 dies on purpose
    assert "pagewalk: pid 1" in cp.stdout
    assert any(t.startswith("walk   pid 1 read 0x00400000 (image pagewalk)")
               for t in cp.stdout.splitlines())
    f = tmp_path / "t.jsonl"
    cp = ia32k("run", "--trace", str(f), "userland/demo/pagewalk.c")
    recs = [json.loads(t) for t in f.read_text().splitlines()]
    assert {"map", "fault", "unmap"} <= {r["event"] for r in recs}
    assert "→" not in cp.stdout


def test_cli_dump_pt_and_bad_walk(ia32k):
    cp = ia32k("run", "--dump-pt", "userland/demo/pagewalk.c")
    assert "page table of pid 2 (CR3=" in cp.stderr
    assert "frame map at exit of pid 1" in cp.stderr
    cp = ia32k("run", "--walk", "nope", "userland/demo/pagewalk.c")
    assert cp.returncode == 2 and "--walk" in cp.stderr


def test_cli_warns_about_a_walk_never_made(ia32k):
    cp = ia32k("run", "--walk", "9:0x1000", "userland/demo/pagewalk.c")
    assert "--walk 9:0x1000: pid 9 never exited" in cp.stderr


def test_a_fetch_fault_is_traced_as_a_fetch(tmp_path):
    """32-bit paging reports no I/D bit, so the trace tells a fetch from
    the faulting address being the instruction's own."""
    src = tmp_path / "jump0.s"
    src.write_text("xor eax, eax\njmp eax\n")
    progs = Programs()
    progs.add(src)
    out = io.BytesIO()
    k = Kernel(progs, console=Console(io.BytesIO(), io.BytesIO()))
    Tracer(out, "jsonl").attach(k)
    k.boot(["jump0"])
    k.run()
    fault = next(r for r in map(json.loads, out.getvalue().splitlines())
                 if r["event"] == "fault")
    assert (fault["access"], fault["va"], fault["eip"], fault["outcome"]) == \
        ("fetch", 0, 0, "fatal")
    assert fault["fault"]["error_code"] == x86.PF_U == \
        fault["fault"]["walker_error_code"]


def test_bench_trace_figures():
    from tools.cli.trace_opts import BENCH_DEPTH, bench_trace
    got = bench_trace(runs=1)
    assert got["page_faults"] == 16 * (BENCH_DEPTH + 1)
    assert got["trace_records"] > got["page_faults"]
    assert got["trace_off_s"] > 0 and got["trace_on_s"] > 0


SHARED_TOUCH = """
    mov eax, dword ptr [0x60000004]
    inc eax
    mov dword ptr [0x60000004], eax
    mov eax, SYS_YIELD                  # let the other one map it too
    int 0x80
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
"""


def test_two_processes_fault_into_one_frame(tmp_path):
    """A real run of what shm does lazily: a Region whose pager hands both
    processes the same frame. Both faults resolve to it, and each exit
    drops one reference (the segment keeps the last)."""
    src = tmp_path / "touch.s"
    src.write_text(SHARED_TOUCH)
    progs = Programs()
    progs.add(src)
    out = io.BytesIO()
    k = Kernel(progs, console=Console(io.BytesIO(), io.BytesIO()),
               quantum=QUANTUM)
    Tracer(out, "jsonl").attach(k)
    frame = k.vm.alloc_zeroed()

    def pager(region, va):
        k.frames.incref(frame)
        return frame
    for p in k.boot(["touch", "touch"]):
        p.aspace.add_region(Region(SHM_VA, SHM_VA + 4096, True, RegionKind.SHM,
                                   pager=pager, obj=SimpleNamespace(id=3)))
    k.run()
    recs = [json.loads(t) for t in out.getvalue().splitlines()]
    faults = events(recs, "fault")
    assert [(f["pid"], f["access"], f["outcome"], f["pa"]) for f in faults] \
        == [(1, "read", "paged-in", frame + 4), (2, "read", "paged-in",
                                                frame + 4)]
    assert k.hw.read32(frame + 4) == 2          # both increments landed
    unmaps = [r for r in events(recs, "unmap") if r["va"] == SHM_VA]
    assert [(r["backing"], r["refs"]) for r in unmaps] == \
        [("shm 3", 2), ("shm 3", 1)]
    k.frames.decref(frame)
