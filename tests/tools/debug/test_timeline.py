"""Going back in time, without gdb: over random guest programs, machines
(1 and 2 CPUs, both paging modes) and moments T, the machine state at T
reached forward (stopping at random earlier moments on the way) equals
the state at T reached by going back from later. Plus the parts: who ran
each instruction (Slices) and a console that shows each byte once."""

import io

from hypothesis import given, settings, strategies as st

from kernel.kernel import Console, Kernel
from kernel.proc.loader import flat_image
from tools.cli.gdb_opts import drive
from tools.debug.statehash import state_hash
from tools.debug.stops import EndRun, Reason, Resume, Stop
from tools.debug.target import Debugger
from tools.debug.timeline import (Goal, Replay, ReplayConsole, Slices,
                                  Timeline, Travel)
from tools.toolchain.asm import assemble_source

OPS = ["inc dword ptr [esp+{n}]", "add eax, {n}", "mov ebx, eax",
       "xor [esp+{n}], eax", "mov eax, SYS_GETPID\nint 0x80",
       "mov eax, SYS_YIELD\nint 0x80"]


@st.composite
def programs(draw):
    """A random program: maybe a fork, then a loop of random operations
    on registers, the stack and system calls."""
    body = [OPS[draw(st.integers(0, len(OPS) - 1))].format(
        n=4 * draw(st.integers(0, 15))) for _ in range(draw(st.integers(2, 8)))]
    fork = "mov eax, SYS_FORK\nint 0x80\n" if draw(st.booleans()) else ""
    return (f"sub esp, 64\n{fork}mov esi, {draw(st.integers(3, 30))}\n"
            f"top:\n" + "\n".join(body) + "\ndec esi\njnz top\n"
            "mov eax, SYS_EXIT\nmov ebx, 0\nint 0x80\n")


class Images(dict):
    def get(self, name):
        return dict.get(self, name)


def booter(src, copies, **kw):
    images = Images(p=flat_image("p", assemble_source(src)))

    def boot(console=None):
        k = Kernel(images, console=console or Console(io.BytesIO(),
                                                      io.BytesIO()), **kw)
        k.boot(["p"] * copies)
        return k
    return boot


class Client:
    """Answers each stop with on_stop(dbg, stop) -> Resume or None."""

    def __init__(self, fn):
        self.fn, self.dbg = fn, None

    def retarget(self, dbg):
        self.dbg = dbg

    def on_stop(self, stop):
        return self.fn(self.dbg, stop) or Resume()

    def on_exit(self, status):
        pass


def session(boot, fn):
    """Run a machine from boot under a Client(fn) that may go back in time;
    returns when the client ends the run."""
    line = Timeline(lambda console: boot(console),
                    io.BytesIO(), io.BytesIO())
    k = line.machine()
    dbg = Debugger(k, line)
    dbg.client = Client(fn)
    dbg.client.dbg = dbg
    try:
        drive(k, dbg, line)
    except EndRun:
        pass


def go(dbg, count):
    """From a client: run forward to instruction count `count`."""
    dbg.travel.aim(Replay(Goal(count, None, Stop(None, Reason.STEP))))


def length(boot):
    k = boot()
    k.run()
    return k.hw.instructions


@settings(max_examples=8, deadline=None)
@given(src=programs(), copies=st.integers(1, 2), cpus=st.integers(1, 2),
       paging=st.sampled_from(["32", "pae"]), seed=st.integers(0, 1000),
       data=st.data())
def test_back_to_t_equals_forward_to_t(src, copies, cpus, paging, seed,
                                       data):
    boot = booter(src, copies, cpus=cpus, paging=paging, seed=seed,
                  quantum=20)
    n = length(boot)
    t = data.draw(st.integers(0, n - 1), "T")
    later = data.draw(st.integers(t + 1, n), "later")
    stops = sorted(set(data.draw(st.lists(st.integers(0, t), max_size=3),
                                 "stops")) | {t})
    seen = {}

    def forward(dbg, stop):
        here = dbg.k.hw.instructions
        if here == t and stop.reason is not Reason.START:
            seen["forward"] = state_hash(dbg.k, dbg.procs)
            return Resume(kill=True)
        go(dbg, min(s for s in stops if s > here or
                    (s == here and stop.reason is Reason.START)))
    session(boot, forward)

    def backward(dbg, stop):
        here = dbg.k.hw.instructions
        if stop.reason is Reason.START:
            go(dbg, later)
        elif "later" not in seen:
            seen["later"] = here
            raise Travel(Replay(Goal(t, None, Stop(None, Reason.STEP))))
        else:
            seen["back"] = (here, state_hash(dbg.k, dbg.procs))
            return Resume(kill=True)
    session(boot, backward)
    assert seen["later"] == later
    assert seen["back"] == (t, seen["forward"])


def test_slices_name_the_last_instruction_of_a_process():
    s = Slices()
    for start, pid in [(0, 1), (10, 2), (10, 3), (25, 1), (30, 3)]:
        s.record(start, pid)
    s.record(10, 9)                      # a replay over known ground
    assert s.last_of(1, 40) == 30        # instructions 26..30
    assert s.last_of(1, 27) == 27
    assert s.last_of(3, 40) == 40 and s.last_of(3, 30) == 25
    assert s.last_of(2, 40) is None      # its slice was empty
    assert s.last_of(1, 0) is None


def test_console_shows_each_byte_once():
    out, shown = io.BytesIO(), {}
    first = ReplayConsole(shown, out, io.BytesIO())
    first.write(1, b"hello ")
    first.write(1, b"world\n")
    again = ReplayConsole(shown, out, io.BytesIO())   # a replay
    again.write(1, b"hello wo")
    assert out.getvalue() == b"hello world\n"
    again.write(1, b"rld\nmore\n")
    assert out.getvalue() == b"hello world\nmore\n"
