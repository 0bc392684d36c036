"""tools/debug/target.py on its own (no gdb, no socket): a scripted client
answers each stop. Breakpoints write no byte, memory goes through each
process's own tables, untouched pages take no frame when read, register
writes reach the process, and a stop reports the right process."""

import io

import pytest

from tools.debug.stops import DebugError, Reason, Resume
from tools.debug.target import Debugger
from kernel.kernel import Console, Kernel
from kernel.proc.loader import flat_image
from tools.toolchain.asm import assemble_source

# pid 1 and pid 2 run this; each stops at `here` with EBX = its pid.
PROGRAM = """
    mov eax, SYS_GETPID
    int 0x80
    mov ebx, eax
here:
    mov eax, SYS_EXIT
    int 0x80
"""
HERE = 0x400000 + len(assemble_source("mov eax, SYS_GETPID\nint 0x80\n"
                                      "mov ebx, eax\n"))


class Script:
    """A client: calls fn(dbg, stop) at each stop, then continues."""

    def __init__(self, dbg, fn):
        self.dbg, self.fn, self.stops = dbg, fn, []

    def on_stop(self, stop):
        self.stops.append(stop)
        return self.fn(self.dbg, stop) or Resume()

    def on_exit(self, status):
        pass


def machine(fn, copies=2, src=PROGRAM):
    images = {"p": flat_image("p", assemble_source(src))}
    k = Kernel(type("Images", (dict,), {"get": dict.get})(images),
               console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["p"] * copies)
    dbg = Debugger(k)
    dbg.client = Script(dbg, fn)
    return k, dbg


def test_breakpoint_stops_each_process_and_writes_no_byte():
    seen = []

    def at_stop(dbg, stop):
        seen.append((stop.pid, stop.reason, dbg.read_register(stop.pid, "eip"),
                     dbg.read_register(stop.pid, "ebx")))
    k, dbg = machine(at_stop)
    before = dbg.read_memory(1, HERE, 4)
    w = k.procs.get(1).aspace.walk(HERE)
    raw = k.hw.read(w.pa, 4)
    dbg.add_breakpoint(HERE)
    assert dbg.read_memory(1, HERE, 4) == before == raw == k.hw.read(w.pa, 4)
    k.run()
    assert seen == [(1, Reason.BREAKPOINT, HERE, 1),
                    (2, Reason.BREAKPOINT, HERE, 2)]
    assert [p.status for p in k.procs] == [1, 2]


def test_register_write_reaches_the_process():
    def at_stop(dbg, stop):
        dbg.write_register(stop.pid, "ebx", 40 + stop.pid)
        with pytest.raises(DebugError):
            dbg.write_register(stop.pid, "cs", 0x8)     # kernel's
        dbg.write_register(stop.pid, "cs",
                           dbg.read_register(stop.pid, "cs"))   # unchanged
    k, dbg = machine(at_stop)
    dbg.add_breakpoint(HERE)
    k.run()
    assert [p.status for p in k.procs] == [41, 42]


PUSHFD = """
    mov eax, SYS_GETPID
    int 0x80
    mov ebx, eax
here:
    pushfd
    pop ebx
    mov eax, SYS_EXIT
    int 0x80
"""
PRIVILEGED = (3 << 12) | 1 << 14 | 1 << 16 | 1 << 17 | 1 << 19 | 1 << 20


def test_register_writes_keep_privileged_eflags():
    """IOPL, NT, RF, VM, VIF, VIP and IF keep their values whatever the
    debugger writes; the arithmetic flags change (the process's own
    pushfd shows which)."""
    before = []

    def at_stop(dbg, stop):
        flags = dbg.read_register(stop.pid, "eflags")
        before.append(flags)
        dbg.write_register(stop.pid, "eflags", (flags | PRIVILEGED | 1)
                           & ~0x200)
        assert dbg.read_register(stop.pid, "eflags") == flags | 1
    k, dbg = machine(at_stop, copies=1, src=PUSHFD)
    dbg.add_breakpoint(HERE)
    k.run()
    status = k.procs.get(1).status & 0xFFFFFFFF
    assert status == before[0] | 1
    assert not status & PRIVILEGED and status & 0x200


def test_memory_through_each_process_and_untouched_pages():
    k, dbg = machine(lambda d, s: None)
    free = k.frames.nfree
    # the stack is mapped but untouched: it reads as zeros, no frame taken
    assert dbg.read_memory(1, 0xBFFFF000, 8) == bytes(8)
    assert k.frames.nfree == free
    for bad in (0, 0x1000, 0xC0000000, 0xBFFEF000, 0xFFFFFFFC):
        with pytest.raises(DebugError):
            dbg.read_memory(1, bad, 4)
    dbg.write_memory(1, 0x400800, b"\x90")     # a flat image is writable:
    assert dbg.read_memory(1, 0x400800, 1) == b"\x90"     # pid 1's copy
    assert dbg.read_memory(2, 0x400800, 1) == b"\x00"     # not pid 2's
    with pytest.raises(DebugError):
        dbg.read_memory(7, 0x400000, 1)
    # a write to an untouched private page takes its frame, as a touch would
    dbg.write_memory(2, 0xBFFFFFF0, b"abcd")
    assert dbg.read_memory(2, 0xBFFFFFF0, 4) == b"abcd"
    assert dbg.read_memory(1, 0xBFFFFFF0, 4) == bytes(4)
    k.run()
    assert k.frames.nfree == k.stats.frames_free_at_boot


def test_threads_and_state_text():
    texts = []

    def at_stop(dbg, stop):
        texts.append([(pid, dbg.name(pid), dbg.state_text(pid))
                      for pid in dbg.threads()])
    k, dbg = machine(at_stop)
    dbg.add_breakpoint(HERE)
    k.run()
    assert texts[0] == [(1, "p", "running"), (2, "p", "runnable")]
    assert texts[1] == [(2, "p", "running")]     # pid 1 ended, reaped
    assert "ps" in dbg.monitor("help") and "PID" in dbg.monitor("ps")
    with pytest.raises(DebugError):
        dbg.monitor("walk 1")                      # usage


def test_stop_reasons():
    """Each stop says why in the kernel's terms: start, breakpoint, step,
    and a fault with its vector."""
    stops = []

    def at_stop(dbg, stop):
        stops.append((stop.pid, stop.reason, stop.vector))
        if stop.reason is Reason.BREAKPOINT:
            return Resume(step_pid=stop.pid)
    k, dbg = machine(at_stop, copies=1)
    dbg.add_breakpoint(HERE)
    dbg.first_stop()
    k.run()
    assert stops == [(1, Reason.START, None), (1, Reason.BREAKPOINT, None),
                     (1, Reason.STEP, None)]
    stops.clear()
    k, dbg = machine(at_stop, copies=1, src="ud2")
    k.run()
    assert stops == [(1, Reason.FAULT, 6)]


THREADED = """
    mov eax, SYS_THREAD_CREATE
    lea ebx, [second]
    mov ecx, 0xBFFF8000
    int 0x80
    mov ebx, eax
    mov eax, SYS_THREAD_JOIN
    xor ecx, ecx
    int 0x80
    mov eax, SYS_EXIT
    int 0x80
second:
    mov eax, SYS_GETTID
    int 0x80
    mov ebx, eax
there:
    mov eax, SYS_THREAD_EXIT
    int 0x80
"""


def test_every_thread_is_a_debugger_thread_by_tid():
    """A breakpoint in a second thread stops it by its tid; the list holds
    both threads of pid 1, each read from its own registers."""
    seen = []
    there = 0x400000 + len(assemble_source(THREADED.split("there:")[0]))

    def at_stop(dbg, stop):
        seen.append((stop.pid, dbg.threads(), dbg.pid_of(stop.pid),
                     dbg.read_register(stop.pid, "ebx"),
                     dbg.state_text(1)))
    k, dbg = machine(at_stop, copies=1, src=THREADED)
    dbg.add_breakpoint(there)
    k.run()
    assert seen == [(2, [1, 2], 1, 2, "blocked: join thread 2")]
