"""What a run did against what its header expects: a list of readable
failure texts (empty when the run is as expected)."""

import difflib

from tools.testrun.header import ABSENT

RUN_OK = (0, 1)          # `ia32k run`: every process ended (0: all with 0)
STDERR_LINES = 20


def failures(case, returncode, report, stdout, stderr):
    """The failure texts of case's run: `ia32k run` exit status returncode,
    its JSON report (None if it wrote none), its stdout and stderr."""
    if report is None:
        return [f"`ia32k run` exited {returncode} without a report (a usage "
                "or build error, or a kernel panic):\n" + indent(
                    stderr.strip() or "(no output)")]
    if returncode not in RUN_OK:
        return [f"`ia32k run` exited {returncode}:\n" + indent(
            stderr.strip() or "(no output)")]
    procs = {p["pid"]: p for p in report["processes"]}
    found = status_failures(case.expect, procs)
    found += fault_failures(case.expect, procs)
    found += stdout_failures(case.expect, stdout)
    if found and stderr.strip():
        found.append(stderr_tail(stderr))
    if "races" in case.mode.split("+") and report.get("races"):
        found.append(f"{len(report['races'])} data race(s) reported:\n"
                     + indent(race_lines(stderr)))
    return found


def status_failures(expect, procs):
    """One text listing every pid whose status is not the expected one."""
    want = expect.statuses(sorted(set(procs) | set(expect.exit or ())))
    bad = [f"pid {pid}: expected {s}, got {got(procs.get(pid))}"
           for pid, s in want.items()
           if s is not None and s != ended(procs.get(pid))]
    return ["exit statuses differ:\n" + indent("\n".join(bad))] if bad else []


def ended(proc):
    """A process's status, or ABSENT when there is no such process."""
    return ABSENT if proc is None else proc["status"]


def got(proc):
    """A process's status with why it ended, for a failure text."""
    if proc is None:
        return ABSENT
    fault = proc.get("fault")
    if not fault:
        return str(proc["status"])
    code = fault.get("error_code")
    code = f", error code {code:#x}" if code is not None else ""
    return (f"{proc['status']} (fault vector {fault['vector']}{code}, at "
            f"eip {fault['eip']:#010x}: {fault.get('instruction') or '?'})")


def fault_failures(expect, procs):
    """A text for every `fault` line the run did not match."""
    found = []
    for pid, (vector, code) in sorted(expect.faults.items()):
        fault = (procs.get(pid) or {}).get("fault")
        want = f"vector {vector}" + (f" error code {code:#x}"
                                     if code is not None else "")
        if (fault is None or fault["vector"] != vector
                or code is not None and fault["error_code"] != code):
            found.append(f"pid {pid}: expected a fault ({want}), got "
                         f"status {got(procs.get(pid))}")
    return found


def stdout_failures(expect, stdout):
    """A unified diff of stdout against the `stdout` lines, if they differ
    (one final newline of the output is not compared)."""
    if expect.stdout is None:
        return []
    want = "\n".join(expect.stdout)
    have = stdout[:-1] if stdout.endswith("\n") else stdout
    if want == have:
        return []
    diff = difflib.unified_diff(want.split("\n"), have.split("\n"),
                                "expected stdout", "actual stdout",
                                lineterm="")
    return ["stdout differs:\n" + indent("\n".join(diff))]


def stderr_tail(stderr, lines=STDERR_LINES):
    """The last lines of stderr (the kernel's messages, a failed CHECK),
    which often say why a run went wrong."""
    tail = stderr.strip().splitlines()
    more = f" (last {lines} of {len(tail)} lines)" if len(tail) > lines else ""
    return f"stderr{more}:\n" + indent("\n".join(tail[-lines:]))


def race_lines(stderr):
    """The race reports in stderr: each `data race` line and the indented
    lines under it (the two accesses)."""
    kept, inside = [], False
    for line in stderr.splitlines():
        inside = "data race" in line or inside and line.startswith(" ")
        if inside:
            kept.append(line)
    return "\n".join(kept) or stderr.strip()


def indent(text):
    return "\n".join("    " + ln for ln in text.splitlines())
