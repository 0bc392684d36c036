"""A Kernel with the observers every driver asks for by flag."""

from kernel.kernel import Kernel
from tools.observe.check import Checker
from tools.observe.debuginfo import FaultLines
from tools.observe.incremental import IncrementalChecker
from tools.race.watch import RaceWatch


def new_kernel(programs, check=False, races=False, recount=False, **kw):
    """Kernel(programs, **kw), with an invariant checker attached when
    check: True (or N: after every Nth trap), the incremental checker, or
    the full recount when recount ("full" is the full recount after every
    trap); and the race watcher when races (k.observer(Checker),
    k.observer(RaceWatch) find them). A killed process's fault names its
    file:line when its program has debug information (FaultLines)."""
    k = Kernel(programs, **kw)
    k.attach(FaultLines(k))
    if check == "full":
        check, recount = 1, True
    if check:
        k.attach((Checker if recount else IncrementalChecker)(k, check))
    if races:
        k.attach(RaceWatch(k))
    return k
