"""A time limit on a block of code, in whichever thread runs it: the main
thread of a forked worker or a thread of a Dask worker (where no signal
arrives). A timer thread raises the exception in the limited thread once
the time is up (CPython delivers it at that thread's next Python
instruction: in a boot, the kernel's next hook or the scheduler's next
slice, since a counted slice always returns to Python)."""

import contextlib
import ctypes
import threading


def _set_async_exc(tid, exc):
    """Have thread tid raise exc (a class) at its next instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid),
                                               ctypes.py_object(exc))


@contextlib.contextmanager
def time_limit(seconds, kind, message):
    """Raise kind(message) in this thread if the body still runs after
    seconds: once at most, and never after the block has ended (one set
    just as the body ended is raised as the block ends). A pending
    exception is never withdrawn: CPython 3.11 would then keep every
    thread checking for one at each instruction, several times slower."""
    tid, lock, armed = threading.get_ident(), threading.Lock(), [True]
    exc = _bound(kind, message)

    def ring():
        with lock:
            if armed[0]:
                _set_async_exc(tid, exc)

    timer = threading.Timer(seconds, ring)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            armed[0] = False
        timer.cancel()


def _bound(kind, message):
    """A subclass of kind, of the same name, whose instances made with no
    arguments carry message (an exception raised in another thread is
    given as a class)."""
    def init(self, *args):
        kind.__init__(self, *(args or (message,)))
    return type(kind.__name__, (kind,), {"__init__": init,
                                         "__module__": kind.__module__})
