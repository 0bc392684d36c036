"""Checkpoints of a deterministic run under gdb: frozen copies of the
whole machine process, made by a host fork() every `every` instructions
(at a slice start), so that going back replays from the nearest one
instead of from boot.

Processes: the `ia32k run` process accepts gdb, then forks the first
machine process and only waits (Supervisor) for the run's exit status,
which it exits with; every machine process holds the gdb socket. The
active machine process forks each checkpoint; a checkpoint waits on a
FIFO of its own. Going back to instruction T, the active process sends
the nearest checkpoint before T a Handover (the goal, the debugger's
breakpoints and watchpoints, the console's and the timeline's records,
the checkpoints), stops reading the socket and exits; the checkpoint forks
a copy of itself that applies the Handover, reads the socket, replays to
T and serves gdb there, while the checkpoint waits again. At most `keep`
checkpoints live: when one more is due, every other one goes and the
interval doubles, so they keep covering the whole run."""

import os
import pickle
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field

from tools.debug.points import Watch

RECEIVE_POLL = 1.0               # seconds between looks at the Supervisor


@dataclass
class Checkpoint:
    count: int                   # instructions run when it was taken
    pid: int
    fifo: str


@dataclass
class Handover:
    """What a checkpoint's copy needs to take over from the process that
    went back."""
    replay: object               # timeline.Replay
    breakpoints: list
    watches: list                # [Watch], without hook handles
    known: list
    shown: dict
    starts: list
    pids: list
    ack: bool
    checkpoints: list
    every: int
    next: int
    stub: dict = field(default_factory=dict)


class Checkpoints:
    """The checkpoints of one run, as the active machine process knows
    them (sup: the Supervisor, which it reports to)."""

    def __init__(self, every, keep, sup):
        self.every, self.keep = every, keep
        self.next = every
        self.taken = []              # [Checkpoint], oldest first
        self.dir = sup.dir           # their FIFOs
        self.status_fd = sup.write_fd
        self.supervisor = sup.pid

    # -- the active process ------------------------------------------------
    def due(self, count):
        return count >= self.next

    def take(self, count):
        """Fork a checkpoint at count. Returns None in the active process;
        in a copy the checkpoint makes when going back there, returns the
        Handover it received."""
        fifo = os.path.join(self.dir, f"{count}")
        if os.path.exists(fifo):
            os.unlink(fifo)
        os.mkfifo(fifo)
        _flush()
        pid = os.fork()
        if pid == 0:
            return self._frozen(fifo)
        self.taken.append(Checkpoint(count, pid, fifo))
        self.next = count + self.every
        if len(self.taken) > self.keep:
            self._thin()
        return None

    def _thin(self):
        """Drop every other checkpoint (the first stays); double the
        interval."""
        for c in self.taken[1::2]:
            _discard(c)
        self.taken = self.taken[::2]
        self.every *= 2
        self.next = self.taken[-1].count + self.every

    def before(self, count):
        """The latest checkpoint taken strictly before count, or None."""
        earlier = [c for c in self.taken if c.count < count]
        return earlier[-1] if earlier else None

    def hand_over(self, c, handover):
        """Send handover to checkpoint c and end this process (the socket
        is left to c's copy)."""
        _flush()
        _tell(self.status_fd, b"H\n")
        with open(c.fifo, "wb") as f:
            f.write(pickle.dumps(handover))
        os._exit(0)

    def ended(self, status):
        """The run is over: tell the Supervisor its exit status."""
        _flush()
        _tell(self.status_fd, b"S%d\n" % status)

    def memory(self):
        """Host memory the checkpoints hold of their own (bytes: the pages
        each has not shared with the others since it was forked)."""
        return sum(_private(c.pid) for c in self.taken)

    # -- a checkpoint --------------------------------------------------------
    def _frozen(self, fifo):
        """Wait for a Handover; for each, fork the copy that takes over
        (which returns it). Never returns in the checkpoint itself."""
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # no zombie copies
        while True:
            handover = pickle.loads(_receive(fifo, self.supervisor))
            if os.fork() == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _tell(self.status_fd, b"A%d\n" % os.getpid())
                return handover


def apply(dbg, h, since):
    """Make the Debugger of a checkpoint's copy what the process that went
    back had (h: its Handover), replaying toward h.replay's goal from
    count `since`."""
    dbg.step.clear()
    dbg.pending = None
    dbg.breakpoints.clear()
    for va in h.breakpoints:
        dbg.breakpoints.add(va)
    dbg.watchpoints.clear()
    for w in h.watches:
        dbg.watchpoints.install(w)
    dbg.watchpoints.known = {(w.va, w.length, w.kind): w for w in h.known}
    line = dbg.travel.timeline
    line.shown.clear()
    line.shown.update(h.shown)
    line.slices.starts[:], line.slices.pids[:] = h.starts, h.pids
    ck = line.checkpoints
    ck.taken, ck.every, ck.next = h.checkpoints, h.every, h.next
    h.replay.since = since
    dbg.travel.replay = h.replay
    stub = dbg.client
    stub.conn.ack = h.ack
    stub.running = True              # gdb waits for the stop reply
    for name, value in h.stub.items():
        setattr(stub, name, value)
    stub.conn.resume_reading()


def handover(dbg, replay):
    """The Handover of this process's debugger, going back to replay."""
    line, stub = dbg.travel.timeline, dbg.client
    ck = line.checkpoints
    return Handover(
        replay, list(dbg.breakpoints.hooks),
        [_bare(w) for w in dbg.watchpoints.watches.values()],
        [_bare(w) for w in dbg.watchpoints.known.values()],
        dict(line.shown), list(line.slices.starts), list(line.slices.pids),
        stub.conn.ack, ck.taken, ck.every, ck.next,
        {"interrupt_pending": False})


def _bare(w):
    return Watch(w.pid, w.va, w.length, w.kind, w.pa)


class Supervisor:
    """The `ia32k run` process of a checkpointed run: it forks the first
    machine process (in a process group of its own, with every later
    machine process) and exits with the status the run ends with."""

    def __init__(self):
        self.pid = os.getpid()
        self.read_fd, self.write_fd = os.pipe()
        self.dir = tempfile.mkdtemp(prefix="ia32k-checkpoints-")

    def fork(self):
        """In the machine process: returns. In this one: waits for the
        run's end and exits."""
        _flush()
        pid = os.fork()
        if pid == 0:
            os.close(self.read_fd)
            os.setpgid(0, 0)
            return
        os.close(self.write_fd)
        try:
            self._wait(pid)
        except KeyboardInterrupt:    # Ctrl-C in the terminal: end it all
            self._end(pid, 130)

    def _wait(self, first):
        active, handing, buf = first, False, b""
        status = None
        while status is None:
            ready = select.select([self.read_fd], [], [], 0.5)[0]
            if ready:
                data = os.read(self.read_fd, 4096)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    kind, value = line[:1], line[1:]
                    if kind == b"S":
                        status = int(value)
                    elif kind == b"H":
                        handing = True
                    elif kind == b"A":
                        active, handing = int(value), False
            elif not handing and not _alive(active, first):
                print("ia32k: the machine process ended without a status",
                      file=sys.stderr)
                status = 70
        self._end(first, status)

    def _end(self, group, status):
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
        _flush()
        os._exit(status)


def _tell(fd, message):
    """A line to the Supervisor (nothing when it is gone)."""
    try:
        os.write(fd, message)
    except OSError:
        pass


def _receive(fifo, supervisor):
    """The next message written to fifo (all of it, once its writer has
    closed it). A checkpoint whose Supervisor is gone ends here."""
    while True:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        data = b""
        try:
            while True:
                if not select.select([fd], [], [], RECEIVE_POLL)[0]:
                    if not _alive(supervisor, None):
                        os._exit(0)
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break            # the writer is done, or none yet
                data += chunk
        finally:
            os.close(fd)
        if data:
            return data
        time.sleep(RECEIVE_POLL / 4)


def _alive(pid, child):
    if pid == child:                 # ours: a zombie once it has ended
        try:
            return os.waitpid(pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _discard(c):
    try:
        os.kill(c.pid, signal.SIGKILL)
        os.waitpid(c.pid, os.WNOHANG)     # ours, when this process made it
    except OSError:
        pass
    try:
        os.unlink(c.fifo)
    except OSError:
        pass


def _flush():
    for f in (sys.stdout, sys.stderr):
        f.flush()


def _private(pid):
    """Private dirty bytes of process pid (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f
                       if line.startswith("Private_Dirty:"))
    except OSError:
        return 0
