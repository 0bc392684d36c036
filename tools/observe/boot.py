"""A Kernel with the observers every driver asks for by flag."""

from kernel.kernel import Kernel
from tools.observe.check import Checker
from tools.observe.incremental import IncrementalChecker
from tools.race.watch import RaceWatch


def new_kernel(programs, check=False, races=False, **kw):
    """Kernel(programs, **kw), with an invariant checker attached when
    check: True (or N: after every Nth trap) for the incremental checker,
    "full" for the full recount after every trap; and the race watcher
    when races (k.observer(Checker), k.observer(RaceWatch) find them)."""
    k = Kernel(programs, **kw)
    if check == "full":
        k.attach(Checker(k))
    elif check:
        k.attach(IncrementalChecker(k, check))
    if races:
        k.attach(RaceWatch(k))
    return k
