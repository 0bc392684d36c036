"""`ia32k race`: a tiny race finder. Run one scenario under many seeds (each
seed replays one interleaving of the CPUs exactly) and group the seeds by
outcome: exit statuses, console output and the bytes of every shared
segment still alive at the end. More than one group means the program's
result depends on the interleaving — a race."""

import hashlib
import io
from dataclasses import dataclass, field

from kernel.kernel import Console, Kernel
from kernel.report import build_report


@dataclass
class Outcome:
    statuses: tuple
    stdout: str
    memory: str
    seeds: list = field(default_factory=list)


def run_seed(programs, boot, seed, cpus, quantum, memory, paging="32"):
    """One run under seed; return (statuses, stdout, shared-memory digest)."""
    out = io.BytesIO()
    k = Kernel(programs, memory=memory, quantum=quantum, cpus=cpus,
               seed=seed, console=Console(out, io.BytesIO()), paging=paging)
    k.boot(boot)
    k.run()
    report = build_report(k)
    statuses = tuple(p["status"] for p in report["processes"])
    return statuses, out.getvalue().decode("latin-1"), _shm_digest(k)


def _shm_digest(k):
    shm = getattr(k, "shm", None)
    if shm is None or not hasattr(shm, "contents"):
        return ""
    h = hashlib.sha256()
    for seg_id, data in shm.contents():
        h.update(seg_id.to_bytes(4, "little") + data)
    return h.hexdigest()[:16]


def find_races(programs, boot, seeds, cpus=2, quantum=0, memory=128 << 20,
               ignore_output=False, paging="32"):
    """Run every seed; return the outcomes, largest group first. With
    ignore_output, console output (often legitimately interleaved) is not
    part of the outcome."""
    groups = {}
    for seed in seeds:
        statuses, out, mem = run_seed(programs, boot, seed, cpus, quantum,
                                      memory, paging)
        key = (statuses, "" if ignore_output else out, mem)
        groups.setdefault(key, Outcome(*key)).seeds.append(seed)
    return sorted(groups.values(), key=lambda o: -len(o.seeds))


def format_outcomes(outcomes, nseeds):
    lines = [f"ia32k race: {nseeds} seeds, {len(outcomes)} distinct "
             f"outcome{'s' if len(outcomes) != 1 else ''}"
             + (" — the result depends on the interleaving" if
                len(outcomes) > 1 else "")]
    for i, o in enumerate(outcomes):
        tail = o.stdout.strip().splitlines()[-1:] or ["<no output>"]
        seeds = ", ".join(map(str, o.seeds[:12])) + \
            (", …" if len(o.seeds) > 12 else "")
        lines.append(f"  outcome {i + 1}: {len(o.seeds)} seed(s) [{seeds}]: "
                     f"statuses {list(o.statuses)}; last line: {tail[0]!r}"
                     + (f"; shared memory {o.memory}" if o.memory else ""))
    return "\n".join(lines)


def parse_seeds(text):
    """'0..49' or '3' or '1,5,9' -> list of ints."""
    if ".." in text:
        a, b = text.split("..", 1)
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]
