"""`python -m tools.fuzz` (`make fuzz`): a campaign from the command line.
Guided by default (a corpus and kernel coverage, tools/fuzz/rounds.py),
blind with --blind; on forked worker processes (--jobs), or on Dask
(--dask: a cluster started here; --scheduler: an existing one). Live
progress on a terminal, a text or JSON summary at the end."""

import json
import sys
import tempfile
from pathlib import Path

from tools.fuzz import campaign, cluster, rounds, shrink
from tools.fuzz.coverage import kernel_statements
from tools.fuzz.progress import progress

# the options `make fuzz` passes (the Makefile's fuzz line spells them out;
# tests/test_makefile.py holds the two together): the checker after every
# 8th call or fault, kernel coverage on every 8th boot, 3% seam boots (one
# costs about six plain boots) and 10% differential pairs
MAKE_FUZZ = ("--check-every", "8", "--coverage-every", "8",
             "--seam-share", "0.03", "--pair-share", "0.1")


def parser():
    ap = campaign.parser()
    ap.add_argument("--blind", action="store_true",
                    help="draw every program fresh: no corpus, no kernel "
                    "coverage measured (faster per program, learns nothing)")
    ap.add_argument("--dask", action="store_true",
                    help="run the campaign's units on a Dask cluster started "
                    "here: one worker process per core (or --jobs workers)")
    ap.add_argument("--scheduler", metavar="ADDRESS",
                    help="run the units on the existing Dask cluster whose "
                    "scheduler listens at ADDRESS, e.g. tcp://HOST:8786 "
                    "(start one with `dask scheduler` and, in this "
                    "repository on each machine, `PYTHONPATH=$PWD dask "
                    "worker ADDRESS --nthreads 1`; a worker running other "
                    "code refuses the units)")
    ap.add_argument("--coverage-every", type=int, default=1, metavar="N",
                    help="measure kernel coverage on every Nth boot of a "
                    "guided campaign (1: every boot; tracing doubles a "
                    "boot's time, so larger is faster but notices fewer "
                    "new lines)")
    ap.add_argument("--json", action="store_true",
                    help="print the summary as one JSON object (no live "
                    "progress)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.replay is not None:
        return campaign.main(args=args)
    if args.cases is None and args.seconds is None:
        args.seconds = 60
    run = _run(args)
    statements = kernel_statements()
    summary = summarize(run, statements, not args.blind)
    summary["replays"] = replays(run.total.violations)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(text(run, summary))
    if args.save:
        campaign._save(args.save, shrink.groups(run.total.violations),
                       args.shrink_seconds)
    return 1 if run.total.violations else 0


def campaign_options(args):
    """rounds.campaign's options for parsed command-line args: cpus,
    guided, measure (0 when blind) and run_boot's check and shares."""
    return {"cpus": args.cpus if args.cpus == "mix" else int(args.cpus),
            "guided": not args.blind,
            "measure": 0 if args.blind else max(1, args.coverage_every),
            "check_every": args.check_every, "seam_share": args.seam_share,
            "diff_share": args.pair_share}


def _run(args):
    ex = cluster.executor(args.jobs, args.dask, args.scheduler)
    try:
        with progress(enabled=not args.json) as shown:
            return rounds.campaign(
                args.seed, args.cases, args.seconds, executor=ex,
                per_round=args.jobs or None, progress=shown,
                **campaign_options(args))
    finally:
        ex.close()


def summarize(run, statements, measured):
    """The campaign's figures as a dict (what --json prints)."""
    t = run.total
    lines = run.corpus.lines() & statements
    return {
        "mode": "guided" if measured else "blind",
        "programs": t.cases, "boots": t.boots, "seconds": round(t.seconds, 2),
        "programs_per_second": round(t.cases / t.seconds, 2)
        if t.seconds else 0,
        "programs_per_cpu_second": round(t.cases / run.cpu, 2)
        if run.cpu else 0,
        "invariant_checks": t.checks,
        "kernel_lines": len(lines) if measured else None,
        "kernel_statements": len(statements),
        "corpus": len(run.corpus.entries),
        "workers": {w: {"programs": c, "seconds": round(s, 2)}
                    for w, (c, s) in sorted(run.workers.items())},
        "violations": [_plain(x) for x in t.violations],
    }


def _plain(violation):
    """A violation record as JSON can hold it: no program texts, the seam
    mode as --mode takes it."""
    return {k: (v.text() if k == "mode" else v)
            for k, v in violation.items() if k != "texts"}


def text(run, s):
    """The summary as lines of text."""
    out = [run.total.summary(), f"programs per CPU second (per core): "
           f"{s['programs_per_cpu_second']}"]
    if s["kernel_lines"] is not None:
        pct = 100 * s["kernel_lines"] / s["kernel_statements"]
        out.append(f"kernel coverage: {s['kernel_lines']} of "
                   f"{s['kernel_statements']} lines ({pct:.1f}%), corpus "
                   f"{s['corpus']} boots")
    for w, d in s["workers"].items():
        out.append(f"  worker {w}: {d['programs']} programs in "
                   f"{d['seconds']} s")
    for sig, n, v in shrink.groups(s["violations"])[:20]:
        out.append(f"  violation x{n}: {sig}\n    first ({v['where']}): "
                   f"{v['what']}\n    replay: {s['replays'][sig]}")
    return "\n".join(out)


def replays(violations):
    """signature -> how to rerun the first boot of each kind of violation:
    `--replay SEED` for a boot drawn from its seed alone (blind and seam
    boots); for a guided boot, whose programs came from the corpus as it
    stood in its round, its programs as they ran, written into a new
    directory, and the `ia32k run` command that boots them there."""
    out, top = {}, None
    for sig, _, v in shrink.groups(violations)[:20]:
        if not v.get("guided"):
            out[sig] = (f"python -m tools.fuzz --replay {v['boot_seed']} "
                        f"--cpus {v['cpus']} --mode {v['mode'].text()}")
            continue
        top = top or Path(tempfile.mkdtemp(prefix="ia32k-fuzz-"))
        d = top / str(len(out) + 1)
        spec = campaign.spec_maker(v)(v["boot_seed"], v["cpus"],
                                      v["programs_per_boot"], v["hostile"],
                                      v["mode"])
        out[sig] = f"cd {d} && {shrink.save(spec, d, v['what'])}"
    return out


if __name__ == "__main__":
    sys.exit(main())
