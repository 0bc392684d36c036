"""The GDB remote protocol module on its own: framing, checksums, escaping,
acks, the packet table and bad input, against a fake target over a real
socket pair (no kernel, no gdb)."""

import socket

import pytest

from tools.debug.gdbarch import NREGS, TARGET_XML
from tools.debug.gdbstub import (GdbStub, PacketReader, checksum, escape,
                                 frame, unescape)
from tools.debug.stops import DebugError, Reason, Resume, Stop, WatchKind


class FakeTarget:
    """Two processes; pid 1 maps 0x1000-0x1fff, pid 2 maps 0x2000-0x2fff."""

    def __init__(self):
        self.mem = {1: {0x1000 + i: i & 0xFF for i in range(0x1000)},
                    2: {0x2000 + i: 0xAA for i in range(0x1000)}}
        self.regs = {1: {"eip": 0x1234}, 2: {"eip": 0x5678}}
        self.points = []
        self.interrupts = 0

    def threads(self):
        return [1, 2]

    def alive(self, pid):
        return pid in (1, 2)

    def name(self, pid):
        return f"prog{pid}"

    def pid_of(self, tid):
        return tid

    def state_text(self, pid):
        return "runnable"

    def read_register(self, pid, name):
        return self.regs[pid].get(name, pid)

    def write_register(self, pid, name, value):
        if name == "cs" and value != self.read_register(pid, name):
            raise DebugError("read-only")
        self.regs[pid][name] = value

    def read_memory(self, pid, va, n):
        try:
            return bytes(self.mem[pid][a] for a in range(va, va + n))
        except KeyError:
            raise DebugError("unmapped") from None

    def write_memory(self, pid, va, data):
        self.read_memory(pid, va, len(data))
        for i, b in enumerate(data):
            self.mem[pid][va + i] = b

    def add_breakpoint(self, va):
        self.points.append(("break", va))

    def remove_breakpoint(self, va):
        self.points.remove(("break", va))

    def add_watchpoint(self, pid, va, length, kind):
        self.points.append((kind, pid, va, length))

    def remove_watchpoint(self, va, length, kind):
        self.points = [p for p in self.points if p[0] != kind]

    def monitor(self, line):
        if line == "boom":
            raise DebugError("no such command")
        return f"you said {line}\n"

    def interrupt(self):
        self.interrupts += 1


@pytest.fixture
def stub():
    a, b = socket.socketpair()
    b.settimeout(10)
    s = GdbStub(FakeTarget(), a)
    s.last_stop = Stop(1, Reason.START)
    s.g_thread = 1
    yield s, b
    s.conn.close()
    b.close()


def ask(stub, text):
    """The stub's reply to one packet, handled directly."""
    return stub.handle(text.encode())


def test_checksum_and_frame():
    assert checksum(b"OK") == (ord("O") + ord("K")) & 0xFF
    assert frame("OK") == b"$OK#9a"
    assert frame(b"") == b"$#00"


def test_escape_round_trip():
    data = bytes(range(256))
    esc = escape(data)
    assert not any(c in esc.replace(b"}", b"") for c in b"#$*")
    assert unescape(esc) == data


def test_reader_splits_packets_and_acks():
    r = PacketReader()
    evs = r.feed(b"+$qC#b4-")
    assert evs == [("ack",), ("packet", b"qC"), ("nak",)]


def test_reader_bad_checksum_and_garbage():
    r = PacketReader()
    evs = r.feed(b"hello$m0,4#00garbage\x03$g#67")
    assert evs == [("bad", b"m0,4"), ("interrupt",), ("packet", b"g")]
    # packets may arrive in pieces
    assert r.feed(b"$?") == [] and r.feed(b"#3") == [] and \
        r.feed(b"f") == [("packet", b"?")]
    assert r.feed(b"$x#zz") == [("bad", b"x")]   # non-hex checksum


def test_unknown_packet_is_empty_reply(stub):
    s, _ = stub
    assert ask(s, "qNoSuchThing") == ""
    assert ask(s, "vMustReplyEmpty") == ""
    assert ask(s, "X1000,4:abcd") == ""      # binary write: not offered


def test_registers(stub):
    s, _ = stub
    g = ask(s, "g")
    assert len(g) == 2 * (16 * 4 + 8 * 10 + 8 * 4 + 4 * 4)
    assert g[8 * 8:8 * 8 + 8] == (0x1234).to_bytes(4, "little").hex()
    assert ask(s, "p8") == (0x1234).to_bytes(4, "little").hex()
    assert ask(s, f"p{NREGS:x}").startswith("E")      # out of range
    assert ask(s, "pzz").startswith("E")
    assert ask(s, "P0=78563412") == "OK"
    assert s.target.regs[1]["eax"] == 0x12345678
    assert ask(s, "Pa=00000000").startswith("E")     # cs: read-only
    assert ask(s, "P0=12").startswith("E")           # wrong size
    assert ask(s, "G" + g) == "OK"                   # unchanged cs is fine
    bad_cs = g[:10 * 8] + "ffffffff" + g[11 * 8:]
    assert ask(s, "G" + bad_cs).startswith("E")
    eax = s.target.regs[1]["eax"]
    assert ask(s, "G" + "00000000" + bad_cs[8:]).startswith("E")
    assert s.target.regs[1]["eax"] == eax            # a refused G: no change
    assert ask(s, "G12").startswith("E")


def test_memory_through_the_selected_thread(stub):
    s, _ = stub
    assert ask(s, "m1000,4") == "00010203"
    assert ask(s, "m2000,2").startswith("E")          # not pid 1's
    assert ask(s, "Hg2") == "OK"
    assert ask(s, "m2000,2") == "aaaa"
    assert ask(s, "m2ffe,4") == "aaaa"                # the readable part
    assert ask(s, "m1ffe,4").startswith("E")          # first byte unreadable
    assert ask(s, "M2000,2:0102") == "OK"
    assert ask(s, "m2000,2") == "0102"
    assert ask(s, "M5000,1:00").startswith("E")
    assert ask(s, "M2000,2:01").startswith("E")       # length mismatch
    assert ask(s, "mffffffffffff,4").startswith("E")
    assert ask(s, "m,").startswith("E")
    assert ask(s, "Hg9") .startswith("E")             # no such thread


def test_threads(stub):
    s, _ = stub
    assert ask(s, "qfThreadInfo") == "m1,2"
    assert ask(s, "qsThreadInfo") == "l"
    assert ask(s, "T2") == "OK" and ask(s, "T7").startswith("E")
    assert bytes.fromhex(ask(s, "qThreadExtraInfo,2")) == b"pid 2 prog2: runnable"
    assert ask(s, "qC") == "QC1"


def test_points(stub):
    s, _ = stub
    assert ask(s, "Z0,401000,1") == "OK"
    assert ask(s, "Z2,1000,4") == "OK"
    assert ask(s, "Z4,1000,4") == "OK"
    assert ("break", 0x401000) in s.target.points
    assert (WatchKind.WRITE, 1, 0x1000, 4) in s.target.points
    assert (WatchKind.ACCESS, 1, 0x1000, 4) in s.target.points
    assert ask(s, "z0,401000,1") == "OK"
    assert ("break", 0x401000) not in s.target.points
    assert ask(s, "Z9,0,1") == ""
    assert ask(s, "Z0,zz,1").startswith("E")


def test_resume_packets(stub):
    s, _ = stub
    assert ask(s, "c") == Resume()
    assert ask(s, "s") == Resume(step_pid=1)
    assert ask(s, "vCont?") == "vCont;c;C;s;S"
    assert ask(s, "vCont;s:2;c") == Resume(step_pid=2)
    assert ask(s, "vCont;c") == Resume()
    assert ask(s, "vCont;C0b:1;c") == Resume()
    assert ask(s, "vCont;x").startswith("E")
    assert ask(s, "vCont;s:63").startswith("E")      # no such thread
    assert ask(s, "Hc63").startswith("E")
    assert ask(s, "k") == Resume(kill=True)


def test_stop_replies(stub):
    s, _ = stub
    assert s.stop_reply(Stop(2, Reason.BREAKPOINT)) == "T05thread:2;swbreak:;"
    assert s.stop_reply(Stop(1, Reason.WATCHPOINT, 0x60000004,
                               WatchKind.WRITE)) == \
        "T05thread:1;watch:60000004;"
    assert s.stop_reply(Stop(3, Reason.FAULT, vector=14)) == "T0bthread:3;"
    assert s.stop_reply(Stop(1, Reason.WATCHPOINT, 0x10, WatchKind.READ)) \
        == "T05thread:1;rwatch:10;"
    assert s.stop_reply(Stop(1, Reason.WATCHPOINT, 0x10, WatchKind.ACCESS)) \
        == "T05thread:1;awatch:10;"
    # only the stub speaks signals: each reason and fault vector has one
    for reason in (Reason.START, Reason.STEP, Reason.EXIT):
        assert s.stop_reply(Stop(1, reason)) == "T05thread:1;"
    assert s.stop_reply(Stop(1, Reason.INTERRUPT)) == "T02thread:1;"
    for vector, sig in ((0, 8), (6, 4), (13, 11), (16, 8)):
        assert s.stop_reply(Stop(1, Reason.FAULT, vector=vector)) == \
            f"T{sig:02x}thread:1;"


def test_target_xml_in_pieces(stub):
    s, _ = stub
    first = ask(s, "qXfer:features:read:target.xml:0,40")
    assert first.startswith("m") and len(first) == 1 + 0x40
    rest = ask(s, f"qXfer:features:read:target.xml:40,{len(TARGET_XML):x}")
    assert rest.startswith("l")
    assert first[1:] + rest[1:] == TARGET_XML
    assert "org.gnu.gdb.i386.core" in TARGET_XML and "fop" in TARGET_XML
    assert ask(s, "qXfer:features:read:other.xml:0,10").startswith("E")


def _read_packet(sock):
    """One packet from the stub side of the socket pair (acks skipped)."""
    r, buf = PacketReader(), b""
    while True:
        buf = sock.recv(4096)
        assert buf, "the stub closed the connection"
        for ev in r.feed(buf):
            if ev[0] == "packet":
                return ev[1].decode()


def test_serve_acks_naks_monitor_and_resume(stub):
    s, gdb = stub
    gdb.sendall(b"$qC#b5")                     # bad checksum
    gdb.sendall(b"junk" + frame("qRcmd," + b"ps".hex()))
    gdb.sendall(frame("qRcmd," + b"boom".hex()) + frame("vCont;c"))
    resume = s.serve()
    assert resume == Resume() and s.running
    data = b""
    while data.count(b"#") < 4:
        data += gdb.recv(4096)
    assert data.startswith(b"-+")              # NAK, then the ACK
    r = PacketReader()
    packets = [e[1] for e in r.feed(data) if e[0] == "packet"]
    assert bytes.fromhex(packets[0][1:].decode()) == b"you said ps\n"
    assert packets[1] == b"OK"
    assert b"no such command" in bytes.fromhex(packets[2][1:].decode())


def test_interrupt_while_running(stub):
    s, gdb = stub
    s.running = True
    gdb.sendall(b"\x03")
    gdb.sendall(frame("?"))                    # a later packet, to sync
    s.conn.next_packet()
    assert s.target.interrupts == 1


def test_no_ack_mode_and_stop_report(stub):
    s, gdb = stub
    gdb.sendall(frame("QStartNoAckMode") + frame("vCont;c"))
    s.serve()
    assert _read_packet(gdb) == "OK"
    assert not s.conn.ack
    s.conn.events.put(("packet", b"D"))
    resume = s.on_stop(Stop(2, Reason.BREAKPOINT))
    assert _read_packet(gdb) == "T05thread:2;swbreak:;"
    assert resume.detach and s.conn.closed


def test_disconnect_means_detach(stub):
    s, gdb = stub
    gdb.close()
    assert s.serve() == Resume(detach=True)


def test_any_bytes_and_any_packet_are_answered():
    """Whatever arrives, the reader splits it and every packet gets a reply
    (a string, or a Resume): nothing raises."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    a, b = socket.socketpair()
    s = GdbStub(FakeTarget(), a)
    s.g_thread, s.last_stop = 1, Stop(1, Reason.START)
    prefixes = st.sampled_from([p for p, _ in GdbStub.TABLE] + ["", "v", "q"])

    @settings(max_examples=400, deadline=None)
    @given(st.binary(max_size=64), prefixes, st.text(max_size=24))
    def check(raw, prefix, rest):
        PacketReader().feed(raw)
        reply = s.handle((prefix + rest).encode("utf-8", "replace"))
        assert reply is None or isinstance(reply, (str, Resume))
    try:
        check()
    finally:
        s.conn.close()
        b.close()
