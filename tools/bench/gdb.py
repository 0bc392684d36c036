"""`make bench`'s debugger figures: what an attached debugger
costs the guest. Compute is measured with the real stub connected (over a
socket pair, the peer having sent `c`); breakpoints and watchpoints with
the debugging interface answering every stop with "continue" (so gdb's own
time is not counted)."""

import io
import socket
import time

from tools.debug.stops import Reason, Resume, WatchKind
from tools.debug.target import Debugger
from kernel.kernel import Console, Kernel
from kernel.proc.loader import flat_image
from tools.toolchain.asm import assemble_source
from tools.toolchain.programs import Images
from tools.debug.gdbstub import GdbStub, frame
from tools.cmdline import no_options

LOOP_ITERS = 50_000_000
WRITES = 2_000_000
HITS = 20_000
REPEAT = 3
LOOP = f"""
    mov esi, {LOOP_ITERS}
top:
    add eax, ecx
    add ecx, 3
    dec esi
    jnz top
"""
BREAK_LOOP = f"""
    mov esi, {HITS}
top:
    add eax, ecx
hit:
    dec esi
    jnz top
"""
# Touch two stack pages, stop at `ready` (where the client sets the
# watchpoint), then write WRITES times into the first page at offset 64.
WRITE_LOOP = f"""
    mov edi, 0xBFFFE000
    mov dword ptr [edi], 1
    mov dword ptr [edi + 0x1000], 1
ready:
    mov esi, {WRITES}
top:
    mov dword ptr [edi + 64], esi
    dec esi
    jnz top
"""
EXIT = "\n    mov eax, SYS_EXIT\n    xor ebx, ebx\n    int 0x80\n"


def connect_stub(dbg, addresses):
    """Attach the real protocol stub, with a peer that says `c` at once."""
    ours, peer = socket.socketpair()
    dbg.client = GdbStub(dbg, ours)
    peer.sendall(frame("c"))
    dbg.first_stop()
    dbg.peer = peer              # kept open until the run ends


class AutoContinue:
    """A client that counts stops and always continues; on_ready(dbg) runs
    at the first breakpoint stop."""

    def __init__(self, dbg, on_ready=None):
        self.dbg, self.on_ready, self.stops = dbg, on_ready, 0

    def on_stop(self, stop):
        self.stops += 1
        if self.on_ready and stop.reason is Reason.BREAKPOINT:
            self.on_ready(self.dbg)
            self.on_ready = None
        return Resume()

    def on_exit(self, status):
        pass


def run_seconds(src, debug=None, labels=()):
    """Run src as one process; debug(dbg, addresses) prepares the debugger
    (None: no debugger). Returns (seconds in Kernel.run, stops)."""
    code = assemble_source(src + EXIT)
    k = Kernel(Images({"b": flat_image("b", code)}),
               console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["b"])
    client = dbg = None
    if debug is not None:
        dbg = Debugger(k)
        client = dbg.client = AutoContinue(dbg)
        debug(dbg, {name: label_address(src, name) for name in labels})
    t = time.perf_counter()
    k.run()
    dt = time.perf_counter() - t
    if dbg is not None:
        dbg.finished(0)
    assert all(p.status == 0 for p in k.procs), "bench program failed"
    return dt, getattr(client, "stops", 0)


def label_address(src, name):
    """The address of label name in the flat image (assembled at 0x400000)."""
    head = src[:src.index(f"\n{name}:")]
    return 0x400000 + len(assemble_source(head)) if head.strip() else 0x400000


def best(fn):
    return min(fn() for _ in range(REPEAT))


def bench_gdb():
    """The figures as a dict (seconds per unit, and ratios)."""
    f = {}
    plain = best(lambda: run_seconds(LOOP)[0])
    attached = best(lambda: run_seconds(LOOP, connect_stub)[0])
    f["compute_attached_ratio"] = plain / attached
    nobp = best(lambda: run_seconds(BREAK_LOOP)[0])
    withbp = best(lambda: run_seconds(
        BREAK_LOOP, lambda d, a: d.add_breakpoint(a["hit"]), ["hit"])[0])
    f["breakpoint_hit_us"] = (withbp - nobp) / HITS * 1e6

    def watch(page):
        def prepare(d, a):
            d.add_breakpoint(a["ready"])
            d.client.on_ready = lambda dbg: (
                dbg.add_watchpoint(1, page, 4, WatchKind.WRITE),
                dbg.remove_breakpoint(a["ready"]))
        return prepare
    nowatch = best(lambda: run_seconds(WRITE_LOOP)[0])
    other = best(lambda: run_seconds(WRITE_LOOP, watch(0xBFFFF000),
                                     ["ready"])[0])
    same = best(lambda: run_seconds(WRITE_LOOP, watch(0xBFFFE000),
                                    ["ready"])[0])
    f["write_unwatched_ns"] = nowatch / WRITES * 1e9
    f["write_other_page_watched_ns"] = other / WRITES * 1e9
    f["write_watched_page_ns"] = same / WRITES * 1e9
    return f


if __name__ == "__main__":
    no_options("tools.bench.gdb", __doc__)
    for key, value in bench_gdb().items():
        print(f"{key:32} {value:10.3f}")
