"""A watchpoint on a page the process still shares copy-on-write (program
text and data shared by the text cache between processes of one program,
or pages shared with a child after fork) stops at that process's own
accesses after its first store copies the page, and at no other
process's: the watch is set on the frame the process's stores reach.
Both paging modes, 1 and 2 CPUs."""

import io

import pytest

from kernel.kernel import Console
from tools.debug.stops import Reason, Resume, WatchKind
from tools.debug.target import Debugger
from tools.observe.boot import new_kernel
from tools.toolchain.programs import Images

DATA = 0x401000                 # the data label below: the image's page 2
PROGRAM = """
    lea ebp, [data]
    mov dword ptr [ebp + 64], 5
    mov eax, SYS_GETPID
    int 0x80
    mov ebx, dword ptr [ebp + 64]
    sub ebx, 5
    mov eax, SYS_EXIT
    int 0x80
.align 4096
data: .zero 8192
"""


class Script:
    def __init__(self):
        self.stops = []

    def on_stop(self, stop):
        self.stops.append((stop.pid, stop.reason))
        return Resume()

    def on_exit(self, status):
        pass


@pytest.mark.parametrize("paging", ["32", "pae"])
@pytest.mark.parametrize("cpus", [1, 2])
@pytest.mark.parametrize("kind", [WatchKind.WRITE, WatchKind.ACCESS])
def test_watch_on_a_shared_text_page_stops_its_process_only(paging, cpus,
                                                            kind):
    k = new_kernel(Images.assembled({"w": PROGRAM}), cpus=cpus,
                   paging=paging, check=True,
                   console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["w", "w"])                 # one program twice: its pages shared
    dbg = Debugger(k)
    dbg.client = Script()
    dbg.add_watchpoint(1, DATA + 64, 4, kind)
    k.run()
    stops = dbg.client.stops
    assert stops and all(s == (1, Reason.WATCHPOINT) for s in stops), stops
    assert len(stops) == (1 if kind is WatchKind.WRITE else 2)
    assert [p.status for p in k.procs] == [0, 0]
    assert k.frames.nfree == k.stats.frames_free_at_boot
