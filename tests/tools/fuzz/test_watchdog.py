"""The hang watchdog (tools/fuzz/watchdog.py) stops a boot that never ends
in the main thread and in any other (a Dask worker runs units in one),
and never fires once its block has ended."""

import threading
import time

import pytest

from tools.fuzz import campaign as fz
from tools.fuzz import watchdog

LOOP = "spin:\n    jmp spin\n"         # a program that never ends


class Late(Exception):
    pass


def _in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(120)
    assert not t.is_alive()
    return out[0]


def _endless_boot():
    """run_spec of a boot whose one program spins forever: its violations
    and how long it took."""
    spec = fz.make_spec(11, 1, programs_per_boot=0).with_texts({"spin": LOOP})
    t0 = time.monotonic()
    o = fz.run_spec(spec, b"S" * 16)
    return o.violations, time.monotonic() - t0


@pytest.mark.parametrize("where", ["main", "thread"])
def test_a_boot_that_never_ends_is_stopped(monkeypatch, where):
    monkeypatch.setattr(fz, "HANG_SECONDS", 1.5)
    violations, took = _endless_boot() if where == "main" else \
        _in_thread(_endless_boot)
    assert len(violations) == 1 and took < 30, (violations, took)
    assert violations[0].startswith(
        "Hang: the boot ran for more than 1.5 s"), violations


def test_the_limit_never_fires_after_its_block():
    def quick():
        with watchdog.time_limit(0.3, Late, "late"):
            pass
        time.sleep(0.8)                 # past the limit: nothing raised
        return "ended"
    assert _in_thread(quick) == "ended"


def test_the_exception_carries_its_kind_and_message():
    def slow():
        try:
            with watchdog.time_limit(0.2, Late, "too slow"):
                while True:
                    time.sleep(0.01)
        except Late as e:
            return type(e).__name__, str(e)
    assert _in_thread(slow) == ("Late", "too slow")
