"""How a run ends early: Ctrl-C (SIGINT), --timeout SECONDS and
--max-instructions N. Each asks the scheduler to stop between slices
(Scheduler.stop_reason) and the CPUs to stop at their next block; the run
then prints where each live process was and exits with the status of the
reason (EXIT_STATUS)."""

import argparse
import signal
import socket
import sys
import threading

from tools.debug.target import Interrupter
from tools.observe.where import position_text, positions

EXIT_STATUS = {"interrupt": 130, "timeout": 124, "max-instructions": 125}
LIMIT_SLICE = 100_000     # a slice under --max-instructions without --quantum


def add_options(ap):
    ap.add_argument("--timeout", type=_seconds, default=None,
                    metavar="SECONDS", help="stop the run after SECONDS of "
                    "wall-clock time, print where each process was and "
                    f"exit {EXIT_STATUS['timeout']}")
    ap.add_argument("--max-instructions", type=_count, default=None,
                    metavar="N", help="stop the run once N guest "
                    "instructions have run (every instruction is counted, "
                    "which is slower; without --quantum a slice is "
                    f"{LIMIT_SLICE} instructions), print where each process "
                    f"was and exit {EXIT_STATUS['max-instructions']}")


def _seconds(text):
    try:
        v = float(text)
    except ValueError:
        v = -1
    if not v > 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a positive number of seconds")
    return v


def _count(text):
    try:
        v = int(text, 0)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive count")
    return v


def policy(inner, args):
    """The scheduler policy for args: inner (None: the default one) cut to
    --max-instructions when it is given."""
    if args.max_instructions is None:
        return inner
    from kernel.sched.scheduler import FifoPolicy
    return InstructionLimit(inner or FifoPolicy(args.quantum, args.seed),
                            args.max_instructions)


class InstructionLimit:
    """A scheduler policy that is another one with slices cut so that the
    run's instruction count reaches `limit` exactly at a slice's end."""

    def __init__(self, inner, limit):
        self.inner, self.limit, self.k = inner, limit, None
        self.counting = True

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def slice_length(self, p, now):
        left = max(1, self.limit - (self.k.hw.instructions or 0))
        n = self.inner.slice_length(p, now) or LIMIT_SLICE
        return min(n, left)

    def on_slice_end(self, cpu, p, t):
        if (self.k.hw.instructions or 0) >= self.limit and \
                self.k.sched.stop_reason is None:
            self.k.sched.stop_reason = "max-instructions"


class Limits:
    """While a run is under way (a context manager): SIGINT and the timer
    stop it; afterwards, why it stopped (None: every process ended)."""

    def __init__(self, k, timeout=None, policy=None):
        self.k, self.timeout = k, timeout
        self.interrupter = Interrupter(k)
        if isinstance(policy, InstructionLimit):
            policy.k = k
            k.attach(policy)
        self._timer = self._old = None
        self._sigints = 0
        self._rsock = self._wsock = None

    @property
    def reason(self):
        return self.k.sched.stop_reason

    def stop(self, reason):
        """End the run soon (any thread may call this)."""
        if self.k.sched.stop_reason is None:
            self.k.sched.stop_reason = reason
        self.interrupter.request()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._catch_sigint()
        if self.timeout is not None:
            self._timer = threading.Timer(self.timeout, self.stop,
                                          ("timeout",))
            self._timer.daemon = True
            self._timer.start()
        return self

    def _catch_sigint(self):
        """The signal's byte reaches a thread of ours at once, even while
        the main thread is inside the emulator (where Python handlers wait
        until the next hook)."""
        self._rsock, self._wsock = socket.socketpair()
        self._wsock.setblocking(False)
        self._old = signal.signal(signal.SIGINT, self._on_sigint)
        self._old_fd = signal.set_wakeup_fd(self._wsock.fileno(),
                                            warn_on_full_buffer=False)
        threading.Thread(target=self._watch, daemon=True).start()

    def _on_sigint(self, *_):
        """Python's handler (it runs once the main thread runs Python): a
        second Ctrl-C gives up on a machine that does not stop."""
        self._sigints += 1
        if self._sigints > 1:
            raise KeyboardInterrupt
        self.stop("interrupt")

    def _watch(self):
        """Each byte is the number of a signal that came (any signal with
        a Python handler writes one)."""
        try:
            while byte := self._rsock.recv(1):
                if byte[0] == signal.SIGINT:
                    self.stop("interrupt")
        except OSError:
            pass

    def __exit__(self, *exc):
        self.interrupter.ended = True
        if self._timer is not None:
            self._timer.cancel()
        if self._rsock is not None:
            signal.set_wakeup_fd(self._old_fd)
            signal.signal(signal.SIGINT, self._old)
            self._rsock.shutdown(socket.SHUT_RDWR)   # wakes _watch
            self._wsock.close()
            self._rsock.close()
        return False

    def report(self, report):
        """Add how the run ended to the --report object."""
        report["ended_by"] = self.reason or "exit"
        if self.reason:
            report["stopped_at"] = positions(self.k)

    def print_where(self, out=sys.stderr):
        """One line per live process, after a stopped run."""
        print(f"ia32k: run stopped ({self.reason}); where each process was:",
              file=out)
        for w in positions(self.k):
            print(f"ia32k:   {position_text(w)}", file=out)
        out.flush()
