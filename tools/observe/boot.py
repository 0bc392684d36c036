"""A Kernel with the observers every driver asks for by flag."""

from kernel.kernel import Kernel
from tools.observe.check import Checker
from tools.race.watch import RaceWatch


def new_kernel(programs, check=False, races=False, **kw):
    """Kernel(programs, **kw), with the invariant checker attached when
    check (True, or N: after every Nth trap) and the race watcher when
    races (k.observer(Checker), k.observer(RaceWatch) find them)."""
    k = Kernel(programs, **kw)
    if check:
        k.attach(Checker(k, check))
    if races:
        k.attach(RaceWatch(k))
    return k
