"""`ia32k run --gdb` driven by the real gdb (batch mode, or pygdbmi where a
test must act while the machine runs), and by a raw socket for bad input.
Each test boots its own run on a free port and waits for the stub's one
"waiting on" line; every wait is bounded."""

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.debug.gdbstub import PacketReader, frame

from tests.conftest import ROOT
TESTS = ROOT / "userland" / "tests"
IA32K = [sys.executable, "-m", "tools.cli"]
WAIT = 60                     # seconds: the bound on every wait


class Machine:
    """An `ia32k run --gdb 0` in a subprocess, listening."""

    def __init__(self, *args, tmp=None):
        self.report = tmp / "report.json" if tmp else None
        extra = ["--report", str(self.report)] if tmp else []
        self.proc = subprocess.Popen(
            IA32K + ["run", "--gdb", "0", *extra, *map(str, args)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self._first_line()
        m = re.search(r"waiting on 127\.0\.0\.1:(\d+); connect with: (.*)",
                      line)
        assert m, f"no listening line: {line!r}"
        self.port, self.command = int(m.group(1)), m.group(2)
        f = re.search(r"-ex 'file ([^']+)'", self.command)
        self.elf = f.group(1) if f else None

    def _first_line(self):
        """The stub's stderr line, polled with a bounded wait."""
        deadline, buf = time.monotonic() + WAIT, b""
        fd = self.proc.stderr.fileno()
        while b"\n" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        self.early_err = buf
        return buf.decode(errors="replace")

    def finish(self):
        """(exit code, stdout, stderr) once the run has ended."""
        out, err = self.proc.communicate(timeout=WAIT)
        return self.proc.returncode, out.decode(), \
            (self.early_err + err).decode()

    def stats(self):
        return json.loads(self.report.read_text())["stats"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def machines():
    started = []

    def start(*args, tmp=None):
        m = Machine(*args, tmp=tmp)
        started.append(m)
        return m
    yield start
    for m in started:
        m.close()


def gdb(m, *commands):
    """Run the real gdb in batch mode against m; returns its output."""
    args = ["gdb", "-nx", "-q", "-batch"]
    if m.elf:
        args += ["-ex", f"file {m.elf}"]
    args += ["-ex", f"target remote :{m.port}"]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args, capture_output=True, text=True, timeout=WAIT,
                       stdin=subprocess.DEVNULL)
    return r.stdout + r.stderr


def test_listening_line_names_gdb_command(machines):
    m = machines(TESTS / "gdb_shm.c")
    assert m.command.startswith("gdb ")
    assert f"target remote :{m.port}" in m.command
    assert m.elf.endswith(".elf") and Path(m.elf).exists()
    out = gdb(m, "kill")
    assert m.finish()[0] == 1


def test_threads_break_and_symbols(machines):
    m = machines(TESTS / "gdb_shm.c")
    out = gdb(m, "break attached", "continue", "info threads", "bt",
              "print w", "list attached", "print word", "thread 1",
              "print word", "bt", "x/wx 0xbffffffc", "thread 2",
              "x/wx 0xbffffffc", "continue")
    assert "Thread 2 hit Breakpoint 1, attached (w=" in out
    assert re.search(r"1 +Thread 1 \(pid 1 gdb_shm: [a-z]", out)
    assert re.search(r"\* 2 +Thread 2 \(pid 2 gdb_shm: running\)", out)
    assert "#1 " in out and " main " in out                # bt
    assert "$1 = (volatile int *) 0x60000000" in out        # print w
    assert "void __attribute__((noinline)) attached" in out  # list
    # `word` sits at one virtual address in both processes: each shows
    # its own bytes (gdb's memory cache does not mix the two)
    assert "$2 = (volatile int *) 0x60000000" in out
    assert "$3 = (volatile int *) 0x40000000" in out
    # so do their stacks (one range of addresses in both): pid 1 unwinds
    # through its own frames, and the top word (_start's copy of the spawn
    # argument) is 0 in pid 1 and 1 in pid 2
    assert re.search(r"#0  yield \(\) at .*\n#1  .*main \(arg=", out)
    tops = re.findall(r"0xbffffffc:\t(0x[0-9a-f]{8})", out)
    assert tops == ["0x00000000", "0x00000001"]
    code, stdout, _ = m.finish()
    assert code == 0 and "reads 2222" in stdout


def test_shm_word_through_two_mappings(machines):
    m = machines(TESTS / "gdb_shm.c")
    out = gdb(m, "break attached", "continue",
              "x/2wx 0x60000000", "thread 1", "x/2wx 0x40000000",
              "x/2wx 0x60000000", "thread 2", "set var *(int*)0x60000004 = "
              "0x3333", "thread 1", "x/2wx 0x40000000", "kill")
    assert "0x60000000:\t0x00000000\t0x00001111" in out
    assert "0x40000000:\t0x00000000\t0x00001111" in out
    assert "Cannot access memory at address 0x60000000" in out
    assert "0x40000000:\t0x00000000\t0x00003333" in out
    m.finish()


def test_watchpoint_fires_in_the_other_process(machines):
    m = machines(TESTS / "gdb_shm.c")
    out = gdb(m, "break attached", "continue", "delete",
              "watch *(int*)0x60000004", "continue", "info threads",
              "monitor walk 1 0x40000004", "monitor walk 2 0x60000004",
              "delete", "continue")
    # set in pid 2 at 0x60000004; pid 1 writes the frame at 0x40000004
    assert "Thread 1 hit Hardware watchpoint 2: *(int*)0x60000004" in out
    assert "Old value = 4369" in out
    assert "word[0] = 2;" in out         # stopped right after the write
    pas = re.findall(r"va 0x[46]0000004: .*PA (0x[0-9a-f]+)", out)
    assert len(pas) == 2 and pas[0] == pas[1]
    code, stdout, _ = m.finish()
    assert code == 0 and "reads 2222" in stdout


def test_fault_stops_before_the_kill(machines):
    m = machines(TESTS / "gdb_fault.c")
    out = gdb(m, "continue", "print/x $cr2", "x/i $pc", "monitor ps",
              "continue")
    assert "Program received signal SIGSEGV" in out
    assert "return *nowhere;" in out
    assert "$1 = 0x1234" in out
    assert "stopped at vector 14" in out
    assert "exited with code 01" in out
    code, _, err = m.finish()
    assert code == 1 and "status 270" in err


@pytest.mark.parametrize("body,insn,signal,status", [
    ("xor ecx, ecx\n    div ecx", "div", "SIGFPE", 256),
    ("ud2", "ud2", "SIGILL", 262),
    ("int3", "int3", "SIGSEGV", 269),
])
def test_each_fault_has_its_signal(machines, tmp_path, body, insn, signal,
                                   status):
    prog = tmp_path / "oops.s"
    prog.write_text(f"    mov eax, 1\n    {body}\n")
    m = machines(prog)
    assert m.elf is None and "set architecture i386" in m.command
    out = gdb(m, "continue", "x/i $pc", "continue")
    assert f"Program received signal {signal}" in out
    # stopped at the faulting instruction itself
    assert re.search(rf"=> 0x4000[0-9a-f]{{2}}:\t{insn}", out)
    code, _, err = m.finish()
    assert code == 1 and f"status {status}" in err


def test_write_to_a_copy_on_write_page_breaks_it(machines):
    """After fork both processes name one frame for `counter`, read-only;
    gdb's write in the child gets the child its own copy, as a kernel
    copy-out would: the parent's value and frame stay."""
    m = machines(TESTS / "fork_basic.c")
    va = symbol(m, "&counter")
    walks = [f"monitor walk 1 {va:#x}", f"monitor walk 2 {va:#x}"]
    out = gdb(m, "break fork_basic.c:15", "continue", *walks,
              "set var counter = 41", *walks, "thread 1", "print counter",
              "continue")
    assert "Thread 2 hit Breakpoint 1" in out
    pas = re.findall(rf"va {va:#010x}: .*PA (0x[0-9a-f]+)", out)
    assert len(pas) == 4
    assert pas[0] == pas[1] and pas[2] == pas[0] and pas[3] != pas[2]
    assert "$1 = 41" in out
    code, stdout, _ = m.finish()
    assert "parent: counter 42, child 2 exited 3" in stdout


def test_step_one_instruction(machines):
    m = machines(TESTS / "gdb_shm.c")
    out = gdb(m, "break attached", "continue", "print/x $pc", "stepi",
              "print/x $pc", "thread 1", "print/x $pc", "kill")
    pcs = re.findall(r"\$\d = (0x[0-9a-f]+)", out)
    assert len(pcs) == 3 and int(pcs[1], 16) > int(pcs[0], 16)
    assert int(pcs[1], 16) - int(pcs[0], 16) <= 15
    m.finish()


def test_monitor_commands(machines):
    m = machines(TESTS / "gdb_shm.c")
    out = gdb(m, "break attached", "continue", "monitor help", "monitor ps",
              "monitor maps 2", "monitor pt 1", "monitor frames",
              "monitor ipcs", "monitor walk 2 0x1000", "monitor walk 9 0",
              "monitor nonsense", "kill")
    assert "walk [PID] VA [read|write|exec]" in out
    assert re.search(r"2 +1 +0 +gdb_shm +running", out)
    assert "60000000-60001000 rwxs shm 1" in out
    assert "page table of pid 1" in out and "frame map now" in out
    assert "#PF 0x4 (user, read, not present)" in out
    assert "error: no process 9" in out
    assert "error: unknown monitor command 'nonsense'" in out
    m.finish()


def test_same_interleaving_under_gdb(machines, tmp_path):
    """Breakpoints, steps and watchpoints (on a shared page the process
    has not touched yet) on two CPUs with a seed leave the run exactly as
    it is without gdb: same output, instruction count, switches."""
    args = ["--cpus", "2", "--seed", "7", ROOT / "userland/demo/race.c"]
    plain = subprocess.run(IA32K + ["run", "--report", str(tmp_path / "a"),
                                    *map(str, args)], cwd=ROOT,
                           capture_output=True, text=True, timeout=WAIT)
    m = machines(*args, tmp=tmp_path)
    out = gdb(m, "break add_plain", "continue", "delete",
              "watch *(int*)0x40000000", "continue", "continue",
              "rwatch *(int*)0x40000000", "continue", "delete",
              "break add_plain", "continue", "stepi", "stepi", "thread 3",
              "stepi", "continue", "delete", "continue")
    assert "Old value = 1\nNew value = 2" in out
    assert "Hardware read watchpoint 3: *(int*)0x40000000\n\nValue = 2" in out
    code, stdout, _ = m.finish()
    assert (code, stdout) == (plain.returncode, plain.stdout)
    a = json.loads((tmp_path / "a").read_text())["stats"]
    assert m.stats() == a


def test_detach_lets_the_run_finish(machines, tmp_path):
    m = machines(TESTS / "gdb_shm.c", tmp=tmp_path)
    gdb(m, "break attached", "watch word", "continue", "detach")
    code, stdout, _ = m.finish()
    assert code == 0 and "parent (pid 1) wrote 2222" in stdout
    s = m.stats()
    assert s["frames_free_at_end"] == s["frames_free_at_boot"]


def test_ctrl_c_then_continue(machines):
    from pygdbmi.gdbcontroller import GdbController
    m = machines(TESTS / "gdb" / "gdb_spin.c")
    g = GdbController(["gdb", "-nx", "-q", "--interpreter=mi3"])
    seen = []

    def do(cmd):
        seen.extend(g.write(cmd, timeout_sec=WAIT,
                            raise_error_on_timeout=False))
    try:
        do("-gdb-set mi-async on")
        do(f"-file-exec-and-symbols {m.elf}")
        do(f"-target-select remote :{m.port}")
        do("-exec-continue")
        do("-exec-interrupt")
        stopped = _wait_for(g, seen, lambda r: r.get("message") == "stopped"
                            and "signal-name" in r["payload"])
        assert stopped["payload"]["signal-name"] == "SIGINT"
        assert stopped["payload"]["thread-id"] == "1"
        do("-data-evaluate-expression stop=1")
        do("-exec-continue")
        _wait_for(g, seen, lambda r: r.get("message") == "stopped" and
                  "exited" in r["payload"].get("reason", ""))
    finally:
        g.exit()
    code, stdout, _ = m.finish()
    assert code == 0 and "stopped after" in stdout


def _wait_for(g, seen, pred):
    """The first gdb/MI record matching pred (among those already seen,
    then those still to come), within WAIT seconds; consumed."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for i, r in enumerate(seen):
            if pred(r):
                del seen[:i + 1]
                return r
        seen.extend(g.get_gdb_response(timeout_sec=1,
                                       raise_error_on_timeout=False))
    raise AssertionError("gdb never reported it")


# -- bad input, on a raw socket ---------------------------------------------
class Raw:
    """A bare protocol client: send a packet, read the reply."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.reader = PacketReader()
        self.pending = []

    def send_bytes(self, data):
        self.sock.sendall(data)

    def reply(self):
        while True:
            for ev in self.pending:
                self.pending = self.pending[1:]
                if ev[0] == "packet":
                    return ev[1].decode()
            data = self.sock.recv(4096)
            assert data, "connection closed"
            self.pending = self.reader.feed(data)

    def ask(self, text):
        self.send_bytes(frame(text))
        return self.reply()


def test_bad_input_never_crashes(machines, tmp_path):
    m = machines(TESTS / "gdb_shm.c", tmp=tmp_path)
    c = Raw(m.port)
    c.send_bytes(b"\x00\xffgarbage}}}#$$$#xx")       # garbage, bad checksum
    assert c.ask("qThisDoesNotExist") == ""
    assert c.ask("m60000000,4").startswith("E")     # pid 1: not mapped
    assert c.ask("m0,4").startswith("E")            # never mapped
    assert c.ask("mffffffff,10").startswith("E")
    assert c.ask("p99").startswith("E")             # no such register
    assert c.ask("P8=zz").startswith("E")
    assert c.ask("Hg63").startswith("E")            # no such thread
    assert c.ask("M400000,2:9090").startswith("E")  # read-only text
    assert c.ask("Z2,60000000,4").startswith("E")   # not mapped in pid 1
    out = c.ask("qRcmd," + b"walk 1 0x400000".hex())
    assert b"PA 0x" in bytes.fromhex(out[1:]) and c.reply() == "OK"
    assert len(c.ask("g")) == 2 * 192
    with pytest.raises(OSError):                    # a second gdb: refused
        socket.create_connection(("127.0.0.1", m.port), timeout=WAIT)
    assert c.ask(f"Z0,{symbol(m, 'attached'):x},1") == "OK"
    assert c.ask("c").startswith("T05thread:2;swbreak")
    c.sock.close()                                  # gone while stopped
    code, stdout, _ = m.finish()
    assert code == 0 and "reads 2222" in stdout
    s = m.stats()
    assert s["frames_free_at_end"] == s["frames_free_at_boot"]


def test_disconnect_while_running(machines, tmp_path):
    m = machines(TESTS / "gdb_shm.c", tmp=tmp_path)
    c = Raw(m.port)
    assert c.ask(f"Z0,{symbol(m, 'main'):x},1") == "OK"
    assert c.ask("c").startswith("T05thread:1;swbreak")
    c.send_bytes(frame("c"))
    c.sock.close()          # gone while running: pid 2 will pass main too
    code, stdout, _ = m.finish()
    assert code == 0 and "reads 2222" in stdout
    s = m.stats()
    assert s["frames_free_at_end"] == s["frames_free_at_boot"]


def symbol(m, name):
    """The address of a function in m's ELF, as gdb reads it."""
    r = subprocess.run(["gdb", "-nx", "-q", "-batch", "-ex", f"file {m.elf}",
                        "-ex", f"print/x (int){name}"], capture_output=True,
                       text=True, timeout=WAIT)
    return int(re.search(r"= (0x[0-9a-f]+)", r.stdout).group(1), 16)
