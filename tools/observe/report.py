"""The run report of docs/abi.md: every process's end, and the machine's stats."""

from dataclasses import asdict

from tools.observe.ipcs import describe
from tools.observe.check import Checker


def build_report(k):
    """The --report JSON object for kernel k after its run."""
    procs = [{"pid": p.pid, "name": p.name, "uid": p.uid, "status": p.status,
              "fault": p.fault,
              "threads": [{"tid": t.tid, "status": t.status}
                          for t in p.threads.values()]}
             for p in sorted(k.procs, key=lambda p: p.pid)]
    report = {"processes": procs, "stats": asdict(k.stats),
              "cpus": [pc.report() for pc in k.sched.percpu]}
    checker = k.observer(Checker)
    if checker:
        report["stats"]["invariant_checks"] = checker.checks
    stale = k.sched.shootdown.stale         # --tlb-shootdown off
    for ext in k.parts + (stale,) * bool(stale) + tuple(k.observers):
        extra = getattr(ext, "report", None)
        if extra:
            extra(report)
    report["segments"] = [describe(s) for s in k.shm.in_order()]
    return report
