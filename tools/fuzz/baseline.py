"""The blind fuzzer of an earlier revision of this repository, measured
beside today's on the same machine (tools/fuzz/plot.py's figures): the
revision's tree is exported with `git archive` into a temporary
directory and its fuzzer runs there, one campaign per job in parallel
processes, each timing its own boots in CPU seconds (as rounds.py times
today's units: start-up and imports are not counted)."""

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from tools import ROOT

REVISION = "825c0c3^"       # the last revision whose fuzzer is one module
CHECK_EVERY = 8             # as that revision's own 10-minute figure ran it
_CAMPAIGN = """\
import json, sys, time
from tools import fuzz
seed, seconds, every = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
cpu = time.process_time()
c = fuzz.fuzz(seed, None, seconds, "mix", check_every=every)
print(json.dumps({"programs": c.cases, "cpu": time.process_time() - cpu,
                  "violations": len(c.violations)}))
"""


@dataclass
class Figures:
    """What the revision's campaigns did, added up over the jobs."""
    revision: str
    programs: int
    cpu: float
    violations: int

    def rate(self):
        """Programs per CPU second."""
        return self.programs / self.cpu if self.cpu else 0.0


def export(revision, where):
    """Write revision's tree into the directory where (CalledProcessError
    when git cannot name it, as in a shallow clone)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", revision],
                         check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=tar, check=True)


def _result(run):
    out = run.communicate()[0]
    if run.returncode != 0:
        raise RuntimeError(f"the fuzzer of {REVISION} ended with status "
                           f"{run.returncode}")
    return json.loads(out.splitlines()[-1])


def measure(seconds, jobs, seed, revision=REVISION, check_every=CHECK_EVERY):
    """Run revision's blind fuzzer for seconds on jobs processes (seeds
    seed, seed + 1, ...); return its Figures."""
    with tempfile.TemporaryDirectory() as where:
        export(revision, where)
        runs = [subprocess.Popen(
            [sys.executable, "-c", _CAMPAIGN, str(seed + j), str(seconds),
             str(check_every)], cwd=where, stdout=subprocess.PIPE, text=True)
            for j in range(jobs)]
        found = [_result(r) for r in runs]
    return Figures(revision, sum(f["programs"] for f in found),
                   sum(f["cpu"] for f in found),
                   sum(f["violations"] for f in found))
