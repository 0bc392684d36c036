"""Message passing and futexes (docs/abi.md calls 20-21 and 30-31).

Messages: every live process owns a Mailbox, a FIFO of at most QUEUE_LEN
messages of at most MSG_MAX bytes. send copies the bytes in from the
sender's address space at once (so a sender blocked on a full queue holds
its message in the kernel); recv copies them out into the receiver's own
address space, either at once or, for a receiver that slept, at the moment
a sender hands it a message.

Futexes: a u32 in a shared memory attachment (or in frames premapped into
several processes) is keyed by its physical address, found by walking the
caller's own page tables, so any two virtual addresses of one physical word
meet and two words in one page never do.
Any other u32 (image, stack, private pages) is keyed by (pid, virtual
address): the threads of the process meet there, no other process does, whether or not its frame is still
shared copy-on-write or as program text. Each sleeper holds a reference on
the frame its word named, so a physical key cannot be freed and handed to
someone else while anyone sleeps on it (docs/ipc.md).
"""

from collections import deque
from dataclasses import dataclass, field

from emu.walk import WRITE
from emu.x86 import PAGE_SIZE, pgrounddown
from kernel.proc.process import ProcState, WaitKind
from kernel.syscall import BLOCKED, Errno
from kernel.mm.access import Intent, access
from kernel.mm.vm import NoMemory, UserFault

MSG_MAX = 4096                   # bytes in one message
QUEUE_LEN = 16                   # messages one mailbox holds
U32_MASK = 0xFFFFFFFF


@dataclass(eq=False)
class Message:
    sender: int                  # pid
    data: bytes


@dataclass
class RecvWait:
    """Where a receiver asked its message to go (checked writable), and
    the thread that sleeps for it."""
    buf: int
    len: int
    from_ptr: int
    thread: object = None


@dataclass
class Mailbox:
    """One process's queue, its sleeping receivers (threads, oldest
    first), its blocked senders."""
    messages: deque = field(default_factory=deque)
    receivers: deque = field(default_factory=deque)   # RecvWait
    senders: deque = field(default_factory=deque)   # (Thread, Message)


@dataclass
class IpcStats:
    messages: int = 0
    message_bytes: int = 0
    handoffs: int = 0            # messages given straight to a sleeper
    futex_waits: int = 0
    futex_wakeups: int = 0


class Ipc:
    """The mailboxes and futex queues of one kernel; one of its parts
    (the kernel calls on_exit to clean up after a process, report adds the
    counters)."""

    def __init__(self, k):
        self.k = k
        self.boxes = {}          # pid -> Mailbox, made on first use
        self.futexes = {}        # key (futex_key) -> deque of Thread
        self.held = {}           # tid of a sleeper -> the frame it holds
        self.stats = IpcStats()

    def box(self, pid):
        b = self.boxes.get(pid)
        if b is None:
            b = self.boxes[pid] = Mailbox()
        return b

    # -- messages ----------------------------------------------------------
    def send(self, p, target, data):
        """Queue data for target, hand it straight to a sleeping receiver,
        or block the calling thread (of p) while target's queue is full."""
        k, stats = self.k, self.stats
        box = self.boxes.get(target.pid) or self.box(target.pid)
        msg = Message(p.pid, data)
        if k.hooks.send:
            k.notify("send", p, msg)
        stats.messages += 1
        stats.message_bytes += len(data)
        if box.receivers:
            rw = box.receivers.popleft()
            stats.handoffs += 1
            k.wake(rw.thread, self._deliver(target, rw, msg, box))
            return 0
        if len(box.messages) < QUEUE_LEN:
            box.messages.append(msg)
            return 0
        t = self.k.thread
        box.senders.append((t, msg))
        self.k.block(t, WaitKind.SEND, f"send to pid {target.pid}",
                     key=target.pid)
        return BLOCKED

    def recv(self, p, rw):
        """Give p its oldest message, or put the calling thread to sleep
        until one comes."""
        box = self.box(p.pid)
        if not box.messages:
            rw.thread = self.k.thread
            box.receivers.append(rw)
            self.k.block(rw.thread, WaitKind.RECV, "recv from anyone")
            return BLOCKED
        result = self._deliver(p, rw, box.messages.popleft(), box)
        if result >= 0 and box.senders:
            sender, msg = box.senders.popleft()
            box.messages.append(msg)
            self.k.wake(sender, 0)
        return result

    def _deliver(self, p, rw, msg, box):
        """Copy msg into p's own address space as rw asks; returns its size.
        The buffer was checked when p called recv and p cannot have changed
        its mappings since, but if it did the message goes back, unlost."""
        data = msg.data if len(msg.data) <= rw.len else msg.data[:rw.len]
        out = ((rw.buf, data), (rw.from_ptr, msg.sender.to_bytes(4, "little"))
               ) if rw.from_ptr else ((rw.buf, data),)
        try:
            p.aspace.copyout_all(out)        # both, or neither
        except (UserFault, NoMemory):
            box.messages.appendleft(msg)
            return -Errno.EFAULT
        if self.k.hooks.recv:
            self.k.notify("recv", p, msg, rw.thread or self.k.thread)
        return len(msg.data)

    # -- futexes -------------------------------------------------------------
    def futex_wait(self, t, key, pa):
        """Put thread t to sleep on key, holding the frame of its word at
        pa."""
        frame, off = pgrounddown(pa), pa & (PAGE_SIZE - 1)
        self.k.frames.incref(frame)
        self.held[t.tid] = frame
        self.futexes.setdefault(key, deque()).append(t)
        self.stats.futex_waits += 1
        self.k.block(t, WaitKind.FUTEX,
                     f"futex at frame {frame:#x} + {off:#x}", key=key)
        return BLOCKED

    def futex_wake(self, key, n):
        """Wake at most n sleepers on key, oldest first; return how many."""
        q, woken = self.futexes.get(key), 0
        while q and woken < n:
            sleeper = q.popleft()
            self.k.notify("futex_wake", self.k.thread, sleeper)
            self._unqueue_futex(sleeper, key)
            woken += 1
        self.stats.futex_wakeups += woken
        return woken

    def _unqueue_futex(self, t, key, result=0):
        """Thread t has left the queue of key: drop its frame hold, wake
        it."""
        if not self.futexes.get(key):
            self.futexes.pop(key, None)
        self.k.frames.decref(self.held.pop(t.tid))
        if result is not None:
            self.k.wake(t, result)

    # -- kernel hooks ----------------------------------------------------------
    def on_exit(self, t):
        """Thread t is ending: leave any queue it sleeps in."""
        w = t.wait_on
        if w is not None and w.kind is WaitKind.FUTEX:
            self.futexes[w.key].remove(t)
            self._unqueue_futex(t, w.key, result=None)
        elif w is not None and w.kind is WaitKind.SEND:
            senders = self.boxes[w.key].senders
            senders.remove(next(s for s in senders if s[0] is t))
        elif w is not None and w.kind is WaitKind.RECV:
            box = self.boxes[t.proc.pid]
            box.receivers.remove(next(r for r in box.receivers
                                      if r.thread is t))

    def on_process_exit(self, p):
        """p is ending: drop its mailbox and fail the senders blocked on it
        with -ESRCH."""
        box = self.boxes.pop(p.pid, None)
        for sender, _ in box.senders if box else ():
            self.k.wake(sender, -Errno.ESRCH)

    def report(self, report):
        report["ipc"] = dict(vars(self.stats))

    def frame_refs(self):
        """The frame references ipc owns (tools.observe.check): one per sleeper."""
        for q in self.futexes.values():
            for t in q:
                yield self.held[t.tid], f"futex sleeper tid {t.tid}"

    def check(self, checker):
        """Every queued process sleeps for the reason the queue says, and
        every mailbox belongs to a live process and holds at most 16."""
        for key, q in self.futexes.items():
            for t in q:
                if not _waits(t, WaitKind.FUTEX, key):
                    checker.fail("futex sleepers sleep on their key",
                                 f"tid {t.tid} queued at {_key_text(key)}")
        for pid, box in self.boxes.items():
            owner = self.k.procs.get(pid)
            if owner is None or not owner.alive or \
                    len(box.messages) > QUEUE_LEN:
                checker.fail("mailboxes: live owner, at most 16 messages",
                             f"pid {pid}")
            if sorted(r.thread.tid for r in box.receivers) != [
                    t.tid for t in owner.threads.values()
                    if _waits(t, WaitKind.RECV)]:
                checker.fail("the receivers are the owner's threads in recv",
                             f"pid {pid}")
            if any(not _waits(p, WaitKind.SEND, pid) for p, _ in box.senders):
                checker.fail("blocked senders sleep in send", f"to pid {pid}")


def _key_text(key):
    return f"{key:#x}" if isinstance(key, int) else \
        f"pid {key[0]} va {key[1]:#x}"


def _waits(t, kind, key=None):
    """True when thread t sleeps for kind (with that key, unless key is
    None)."""
    w = t.wait_on
    return t.state is ProcState.BLOCKED and w is not None and w.kind is kind \
        and (key is None or w.key == key)


# -- the system calls (thin: check arguments, then ask Ipc) -------------------
def sys_send(k, p, pid, buf, n, *_):
    """Checks, in order: len (-EINVAL), target (-ESRCH), buffer (-EFAULT)."""
    if n > MSG_MAX:
        return -Errno.EINVAL
    target = k.procs.get(pid)    # as read: no pid has bit 31 set
    if target is None or not target.alive:
        return -Errno.ESRCH
    try:
        data = p.aspace.copyin(buf, n) if n else b""
    except UserFault:
        return -Errno.EFAULT
    except NoMemory:
        return -Errno.ENOMEM
    return k.ipc.send(p, target, data)


def sys_recv(k, p, buf, n, from_ptr, *_):
    """Both user pointers are checked writable before anything is taken."""
    aspace = p.aspace
    try:
        if n:
            aspace.check(buf, n if n < MSG_MAX else MSG_MAX, WRITE)
        if from_ptr:
            aspace.check(from_ptr, 4, WRITE)
    except UserFault:
        return -Errno.EFAULT
    except NoMemory:
        return -Errno.ENOMEM
    return k.ipc.recv(p, RecvWait(buf, n, from_ptr))


def futex_key(p, addr):
    """(key, pa) for p's u32 at addr: pa its physical address (demand pages
    are filled as a load would fill them); key pa in a shared memory
    attachment (or frames premapped into several processes), else (pid,
    addr). Or -EINVAL (unaligned) / -EFAULT."""
    if addr & 3:
        return -Errno.EINVAL
    try:
        [(pa, _)] = access(p.aspace, addr, 4, Intent.KEY)
    except UserFault:
        return -Errno.EFAULT
    except NoMemory:
        return -Errno.ENOMEM
    r = p.aspace.region_at(addr)
    return (pa if r is not None and r.shared else (p.pid, addr)), pa


def sys_futex_wait(k, p, addr, expected, *_):
    found = futex_key(p, addr)
    if isinstance(found, int):
        return found
    key, pa = found
    if k.hw.read32(pa) != expected & U32_MASK:
        return -Errno.EAGAIN
    return k.ipc.futex_wait(k.thread, key, pa)


def sys_futex_wake(k, p, addr, n, *_):
    found = futex_key(p, addr)
    if isinstance(found, int):
        return found
    return k.ipc.futex_wake(found[0], n & U32_MASK)
