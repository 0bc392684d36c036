"""The GDB remote serial protocol, spoken to one gdb over TCP.

This module knows packets, not kernels: framing ($data#checksum), acks and
no-ack mode, escaping, the packet table, and Ctrl-C (a raw 0x03 while the
machine runs). Everything it asks of the machine goes through a small
target interface (tools/debug/target.py implements it): threads, registers,
memory through one process's page tables, break/watchpoints, monitor
commands, all in the kernel's terms. Only the stub speaks gdb's: a stop's
reason becomes a signal and a stop-reply field, a register number a name
(tools/debug/gdbarch.py). The target calls on_stop(stop) at every stop;
the stub answers gdb's packets until one of them resumes the machine, and
returns how.

Malformed input never raises: a bad checksum is NAKed ('-'), bytes
outside packets are dropped, unknown packets get the empty reply ('' =
unsupported), bad arguments get an error packet 'E..'.
"""

import queue
import select
import socket
import threading

from tools.debug.gdbarch import (CORE_REGS, NREGS, SIGTRAP, TARGET_XML,
                                 register_bytes, signal)
from tools.debug.stops import DebugError, Reason, Resume, WatchKind

PACKET_SIZE = 0x4000
INTERRUPT = 0x03
POLL = 0.1                       # seconds between looks at `paused`
WATCH_KINDS = (WatchKind.WRITE, WatchKind.READ, WatchKind.ACCESS)  # Z2-Z4
WATCH_NAMES = dict(zip(WATCH_KINDS, ("watch", "rwatch", "awatch")))
_ESCAPED = b"#$}*"
NOT_REVERSIBLE = ("ia32k: cannot go back in time: this run is not "
                  "deterministic; run it with --seed S or --quantum N\n")


# -- framing ---------------------------------------------------------------
def checksum(data):
    """The protocol's checksum: the sum of the bytes, modulo 256."""
    return sum(data) & 0xFF


def escape(data):
    """Binary data with #, $, } and * escaped as } then the byte ^ 0x20."""
    out = bytearray()
    for b in data:
        if b in _ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data):
    out, it = bytearray(), iter(data)
    for b in it:
        out.append(next(it, 0x20) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


def frame(data):
    """One packet as sent on the wire: $data#cs."""
    if isinstance(data, str):
        data = data.encode()
    return b"$" + data + b"#%02x" % checksum(data)


class PacketReader:
    """Splits a byte stream into packets. feed(bytes) returns a list of
    events: ('packet', payload bytes), ('bad', payload) for a bad
    checksum, ('ack',) / ('nak',) and ('interrupt',) for 0x03 between
    packets. Anything else between packets is dropped."""

    def __init__(self):
        self.buf = None              # bytearray while inside a packet
        self.tail = None             # checksum digits after '#'

    def feed(self, data):
        events = []
        for b in data:
            ev = self._byte(b)
            if ev:
                events.append(ev)
        return events

    def _byte(self, b):
        if self.buf is None:
            if b == ord("$"):
                self.buf = bytearray()
                return None
            return {ord("+"): ("ack",), ord("-"): ("nak",),
                    INTERRUPT: ("interrupt",)}.get(b)
        if self.tail is None:
            if b == ord("#"):
                self.tail = bytearray()
            elif b == ord("$"):          # a new packet: drop the broken one
                self.buf = bytearray()
            elif len(self.buf) > 2 * PACKET_SIZE:
                self.buf = None          # runaway garbage
            else:
                self.buf.append(b)
            return None
        self.tail.append(b)
        if len(self.tail) < 2:
            return None
        payload, digits = bytes(self.buf), bytes(self.tail)
        self.buf = self.tail = None
        try:
            ok = int(digits, 16) == checksum(payload)
        except ValueError:
            ok = False
        return ("packet", payload) if ok else ("bad", payload)


# -- the stub --------------------------------------------------------------
class Args:
    """Parse helpers for packet arguments: every failure is a ValueError."""

    @staticmethod
    def hexint(text):
        if not text or text.startswith("-"):
            raise ValueError("bad number")
        return int(text, 16)

    @staticmethod
    def thread(text):
        """A thread id: -1 (all), 0 (any), or a pid; pPID.TID allowed."""
        if text.startswith("p"):
            text = text.split(".")[-1]
        return -1 if text == "-1" else Args.hexint(text)


class Connection:
    """One gdb's socket: a thread reads it, so that Ctrl-C is seen while
    the machine runs, and splits it into packets; replies go out framed.
    Good packets are acked (until no-ack mode), bad ones NAKed, and a NAK
    resends the last reply. interrupted(gone) is called from the reading
    thread at a Ctrl-C (gone False) and when gdb hangs up (gone True)."""

    def __init__(self, sock, interrupted):
        self.sock = sock
        self.interrupted = interrupted
        self.events = queue.Queue()
        self.reader = PacketReader()
        self.ack = True
        self.closed = False
        self.last_sent = b""
        self.reading = None          # the reading thread
        self.paused = False          # another process reads the socket
        self.resume_reading()

    def resume_reading(self):
        """Start the reading thread (again, in a process forked from a
        checkpoint, where it does not exist)."""
        self.events, self.paused = queue.Queue(), False
        self.reading = threading.Thread(target=self._read_loop, daemon=True)
        self.reading.start()

    def pause_reading(self):
        """Stop reading, leaving every byte to come to another process
        that holds the same socket (going back to a checkpoint)."""
        self.paused = True
        self.reading.join(2 * POLL)

    def _read_loop(self):
        while True:
            try:
                ready = select.select([self.sock], [], [], POLL)[0]
                if self.paused:
                    return
                if not ready:
                    continue
                data = self.sock.recv(4096)
            except (OSError, ValueError):    # closed (its fd is -1)
                data = b""
            if not data:
                self.closed = True
                self.events.put(None)
                self.interrupted(True)
                return
            for ev in self.reader.feed(data):
                if ev[0] == "interrupt":
                    self.interrupted(False)
                else:
                    self.events.put(ev)

    def _send_raw(self, data):
        if self.closed:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send(self, payload):
        self.last_sent = frame(payload)
        self._send_raw(self.last_sent)

    def next_packet(self):
        """The next good packet (acked), or None when gdb is gone."""
        while True:
            ev = self.events.get()
            if ev is None:
                self.events.put(None)        # stays closed
                return None
            kind = ev[0]
            if kind == "packet":
                if self.ack:
                    self._send_raw(b"+")
                return ev[1]
            if kind == "bad" and self.ack:
                self._send_raw(b"-")
            elif kind == "nak" and self.last_sent:
                self._send_raw(self.last_sent)

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class GdbStub:
    """One gdb connection serving a target (tools/debug/target.Debugger)."""

    def __init__(self, target, sock):
        self.target = target
        self.running = False
        self.interrupt_pending = False   # a 0x03 not yet acted on
        self.last_stop = None
        self.g_thread = self.c_thread = None
        self.conn = Connection(sock, self._interrupted)

    def _interrupted(self, gone):
        """Ctrl-C, or gdb gone: stop the machine if it runs."""
        if not gone:
            self.interrupt_pending = True
        if self.running:
            self.target.interrupt()

    # -- called by the target ----------------------------------------------
    def on_stop(self, stop):
        """The machine stopped: report it (if gdb waits for it), then
        answer packets until one resumes; returns a Resume."""
        self.last_stop = stop
        self.g_thread = self.c_thread = stop.pid
        self.interrupt_pending = False
        if self.running:
            self.running = False
            self.conn.send(self.stop_reply(stop))
        return self.serve()

    def on_exit(self, status):
        """The run ended: W<status> if gdb waits for a stop, then close."""
        if self.running and not self.conn.closed:
            self.conn.send(f"W{status & 0xFF:02x}")
        self.conn.close()

    def serve(self):
        """Answer packets until one resumes the machine."""
        while True:
            pkt = self.conn.next_packet()
            if pkt is None:
                return Resume(detach=True)
            reply = self.handle(pkt)
            if reply is None:
                continue
            if isinstance(reply, Resume):
                if reply.detach or reply.kill:
                    self.conn.close()
                else:
                    self.running = True
                    if self.interrupt_pending or self.conn.closed:
                        self.target.interrupt()   # came with the resume
                return reply
            self.conn.send(reply)

    # -- packets -----------------------------------------------------------
    def handle(self, pkt):
        """The reply to one packet (a str), or a Resume. Never raises."""
        try:
            text = pkt.decode("latin-1")
            for prefix, fn in self.TABLE:
                if text.startswith(prefix):
                    return fn(self, text[len(prefix):])
            return ""
        except DebugError:
            return "E01"
        except Exception:  # noqa: BLE001 - a malformed packet, never a crash
            return "E02"

    def stop_reply(self, stop):
        text = f"T{signal(stop):02x}thread:{stop.pid:x};"
        if stop.reason is Reason.BREAKPOINT:
            text += "swbreak:;"
        elif stop.reason is Reason.WATCHPOINT:
            text += f"{WATCH_NAMES[stop.watch]}:{stop.address:x};"
        elif stop.reason is Reason.BEGIN:
            text += "replaylog:begin;"
        return text

    def _why(self, _):
        stop = self.last_stop
        return self.stop_reply(stop) if stop else f"S{SIGTRAP:02x}"

    def _supported(self, _):
        return (f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;"
                "swbreak+;hwbreak+;QStartNoAckMode+;"
                "ReverseStep+;ReverseContinue+")

    def _no_ack(self, _):
        self.conn.send("OK")
        self.conn.ack = False
        return None

    def _features(self, rest):
        name, _, span = rest.partition(":")
        if name != "target.xml":
            return "E00"
        off, length = (Args.hexint(x) for x in span.split(","))
        data = TARGET_XML.encode()[off:off + length]
        more = off + length < len(TARGET_XML)
        return ("m" if more else "l") + escape(data).decode("latin-1")

    def _thread_list(self, _):
        return "m" + ",".join(f"{t:x}" for t in self.target.threads())

    def _extra_info(self, rest):
        tid = Args.thread(rest)
        text = (f"pid {self.target.pid_of(tid)} {self.target.name(tid)}: "
                f"{self.target.state_text(tid)}")
        return text.encode().hex()

    def _current(self, _):
        pid = self.g_thread or (self.target.threads() or [0])[0]
        return f"QC{pid:x}"

    def _set_thread(self, rest):
        which, tid = rest[:1], Args.thread(rest[1:])
        if tid > 0 and not self.target.alive(tid):
            return "E01"
        if which == "g" and tid > 0:
            self.g_thread = tid
        elif which == "c":
            self.c_thread = tid if tid > 0 else None
        return "OK"

    def _alive(self, rest):
        return "OK" if self.target.alive(Args.thread(rest)) else "E01"

    def _pid(self):
        if self.g_thread is None:
            raise DebugError("no thread selected")
        return self.g_thread

    # registers: the XML's order, little-endian hex
    def _reg_bytes(self, n):
        return register_bytes(self.target, self._pid(), n)

    def _read_regs(self, _):
        return "".join(self._reg_bytes(n).hex() for n in range(NREGS))

    def _write_regs(self, rest):
        data = bytes.fromhex(rest)
        if len(data) < 4 * len(CORE_REGS):
            return "E02"
        # last to first: the segment registers, refused when changed, go
        # before any other, so a refused G changes nothing
        for i, name in reversed(list(enumerate(CORE_REGS))):
            value = int.from_bytes(data[4 * i:4 * i + 4], "little")
            self.target.write_register(self._pid(), name, value)
        return "OK"

    def _read_reg(self, rest):
        return self._reg_bytes(Args.hexint(rest)).hex()

    def _write_reg(self, rest):
        num, _, val = rest.partition("=")
        n, data = Args.hexint(num), bytes.fromhex(val)
        if n < len(CORE_REGS) and len(data) == 4:
            self.target.write_register(self._pid(), CORE_REGS[n],
                                       int.from_bytes(data, "little"))
            return "OK"
        if n < NREGS and data == self._reg_bytes(n):
            return "OK"                 # x87 and CRs: only as they are
        return "E01"

    # memory: through the selected process's tables
    def _read_mem(self, rest):
        addr, length = (Args.hexint(x) for x in rest.split(","))
        length = min(length, PACKET_SIZE // 2 - 8)
        out = b""
        while len(out) < length:        # as much as is readable
            a = addr + len(out)
            n = min(length - len(out), 0x1000 - (a & 0xFFF))
            try:
                out += self.target.read_memory(self._pid(), a, n)
            except DebugError:
                if not out:
                    raise
                break
        return out.hex()

    def _write_mem(self, rest):
        where, _, data = rest.partition(":")
        addr, length = (Args.hexint(x) for x in where.split(","))
        raw = bytes.fromhex(data)
        if len(raw) != length:
            return "E02"
        self.target.write_memory(self._pid(), addr, raw)
        return "OK"

    # breakpoints and watchpoints
    def _point(self, rest, insert):
        kind, addr, length = rest.split(",")[:3]
        kind, addr, length = int(kind), Args.hexint(addr), Args.hexint(length)
        if kind in (0, 1):
            (self.target.add_breakpoint if insert else
             self.target.remove_breakpoint)(addr)
            return "OK"
        if kind in (2, 3, 4):
            wkind = WATCH_KINDS[kind - 2]
            if insert:
                self.target.add_watchpoint(self._pid(), addr, length, wkind)
            else:
                self.target.remove_watchpoint(addr, length, wkind)
            return "OK"
        return ""

    # resuming
    def _continue(self, rest):
        return Resume()

    def _step(self, rest):
        pid = self.c_thread or (self.last_stop.pid if self.last_stop else
                                self._pid())
        return self._step_resume(pid)

    def _step_resume(self, pid):
        """Step pid, or an error packet when there is no such process."""
        return Resume(step_pid=pid) if self.target.alive(pid) else "E01"

    def _vcont(self, rest):
        if rest == "?":
            return "vCont;c;C;s;S"
        if not rest.startswith(";"):
            return ""
        for action in rest[1:].split(";"):
            op, _, tid = action.partition(":")
            if op[:1] in ("s", "S"):
                pid = Args.thread(tid) if tid else -1
                if pid <= 0:
                    pid = self.c_thread or self._pid()
                return self._step_resume(pid)
            if op[:1] not in ("c", "C"):
                return "E02"
        return Resume()

    # going back in time
    def _backward(self, rest, step):
        """bs / bc: a Resume going back, or an error (with the reason on
        gdb's console) when the run cannot go back."""
        if not self.target.reversible():
            self.console(NOT_REVERSIBLE)
            return "E01"
        if not step:
            return Resume(backward=True)
        pid = self.c_thread or (self.last_stop.pid if self.last_stop else
                                self._pid())
        return Resume(step_pid=pid, backward=True) \
            if self.target.alive(pid) else "E01"

    def console(self, text):
        """Text for gdb's console (O packets)."""
        chunk = PACKET_SIZE // 2 - 16
        data = text.encode()
        for i in range(0, len(data), chunk):
            self.conn.send("O" + data[i:i + chunk].hex())

    def retarget(self, target):
        """The machine was rebuilt (going back in time): serve its
        debugging target from now on."""
        self.target = target

    def _kill(self, _):
        return Resume(kill=True)

    def _detach(self, _):
        self.conn.send("OK")
        return Resume(detach=True)

    def _monitor(self, rest):
        cmd = bytes.fromhex(rest).decode("utf-8", "replace")
        try:
            text = self.target.monitor(cmd)
        except DebugError as e:
            text = f"error: {e}\n"
        self.console(text)
        return "OK"

    TABLE = [
        ("?", _why), ("qSupported", _supported),
        ("QStartNoAckMode", _no_ack),
        ("qXfer:features:read:", _features),
        ("qfThreadInfo", _thread_list), ("qsThreadInfo", lambda s, r: "l"),
        ("qThreadExtraInfo,", _extra_info), ("qC", _current),
        ("qAttached", lambda s, r: "1"), ("qRcmd,", _monitor),
        ("qSymbol", lambda s, r: "OK"),
        ("H", _set_thread), ("T", _alive),
        ("g", _read_regs), ("G", _write_regs),
        ("p", _read_reg), ("P", _write_reg),
        ("m", _read_mem), ("M", _write_mem),
        ("Z", lambda s, r: s._point(r, True)),
        ("z", lambda s, r: s._point(r, False)),
        ("vCont", _vcont), ("vKill", _kill),
        ("c", _continue), ("C", _continue), ("s", _step), ("S", _step),
        ("k", _kill), ("D", _detach),
        ("bs", lambda s, r: s._backward(r, True)),
        ("bc", lambda s, r: s._backward(r, False)),
    ]


def listen(port):
    """A listening socket on 127.0.0.1:port (0: any free port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    return s


def accept_one(server):
    """Accept one gdb, then stop listening: a second connection is
    refused by the host."""
    conn, _ = server.accept()
    server.close()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn

