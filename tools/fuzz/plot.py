"""`python -m tools.fuzz.plot`: the fuzzer's figures, measured in one run
on this machine and written into the docs: kernel lines reached over a
campaign, blind draws against guided ones (docs/fuzz-coverage.svg), and
programs per CPU second of the blind fuzzer without coverage (the
fuzzer's cost without learning), the blind one with coverage, the guided
one, the guided one measuring coverage on every 4th boot only, the
guided one with `make fuzz`'s options (tools/fuzz/command.py MAKE_FUZZ)
and the blind fuzzer of an earlier revision (tools/fuzz/baseline.py)
(docs/fuzz-figures.md)."""

import argparse
from pathlib import Path

from tools import ROOT
from tools.fuzz import (baseline, cluster, command, differential, rounds,
                        seams)
from tools.fuzz.coverage import kernel_statements

W, H, PAD = 640, 360, 48
COLOURS = {"blind": "#c0392b", "guided": "#2471a3",
           "guided, coverage every 4th boot": "#1e8449",
           "guided, as make fuzz runs it": "#7d3c98"}
CAMPAIGNS = (("blind, no coverage", False, 0), ("blind", False, 1),
             ("guided", True, 1), ("guided, coverage every 4th boot", True, 4))
MAKE_FUZZ = "guided, as make fuzz runs it"


class Series:
    """(seconds, kernel lines) after each round of a campaign."""

    def __init__(self, statements):
        self.points, self.statements = [(0.0, 0)], statements

    def update(self, run):
        self.points.append((run.elapsed(),
                            len(run.corpus.lines() & self.statements)))


def measure(seconds, jobs, seed):
    """Run the campaigns of CAMPAIGNS and make fuzz's; return {name: (Run,
    Series)}."""
    statements = kernel_statements()
    found = {}
    for name, guided, measured in CAMPAIGNS:
        found[name] = _campaign(statements, seconds, jobs, seed,
                                guided=guided, measure=measured)
    found[MAKE_FUZZ] = _campaign(statements, seconds, jobs, seed,
                                 **make_fuzz_options())
    return found


def make_fuzz_options():
    """rounds.campaign's options for the campaign make fuzz runs."""
    o = command.campaign_options(
        command.parser().parse_args(list(command.MAKE_FUZZ)))
    del o["cpus"]                   # every campaign here runs "mix"
    return o


def _campaign(statements, seconds, jobs, seed, **options):
    ex = cluster.executor(jobs)
    series = Series(statements)
    try:
        run = rounds.campaign(seed, None, seconds, "mix", ex,
                              progress=series, **options)
    finally:
        ex.close()
    return run, series


def svg(curves, seconds):
    """An SVG line plot of {name: [(seconds, lines)]} (points with no
    lines yet are left out; the y axis spans the lines reached)."""
    ys = [y for pts in curves.values() for _, y in pts if y]
    top = (max(ys, default=0) // 100 + 1) * 100
    bottom = max(0, (min(ys, default=0) // 100 - 1) * 100)

    def xy(x, y):
        return (PAD + (W - 2 * PAD) * x / seconds,
                H - PAD - (H - 2 * PAD) * (y - bottom) / (top - bottom))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" '
           f'height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" '
           'stroke="black"/>',
           f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" '
           'stroke="black"/>',
           f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">seconds'
           '</text>',
           f'<text x="14" y="{H / 2}" transform="rotate(-90 14 {H / 2})" '
           'text-anchor="middle">kernel lines reached</text>']
    for v in range(bottom, top + 1, max(1, (top - bottom) // 4)):
        _, y = xy(0, v)
        out.append(f'<text x="{PAD - 4}" y="{y + 4:.0f}" '
                   f'text-anchor="end">{v}</text>')
    for k in range(5):
        x, _ = xy(seconds * k / 4, 0)
        out.append(f'<text x="{x:.0f}" y="{H - PAD + 16}" '
                   f'text-anchor="middle">{seconds * k / 4:.0f}</text>')
    for n, (name, pts) in enumerate(curves.items()):
        line = " ".join("%.1f,%.1f" % xy(min(x, seconds), y)
                        for x, y in pts if y)
        colour = COLOURS[name]
        out += [f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{line}"/>',
                f'<text x="{W - PAD - 220}" y="{H - PAD - 20 - 16 * n}" '
                f'fill="{colour}">{name}</text>']
    return "\n".join(out + ["</svg>", ""])


def figures(found, seconds, jobs, old):
    """docs/fuzz-figures.md's text; old: the earlier revision's
    baseline.Figures."""
    base = _rate(found["blind, no coverage"][0])
    then = old.rate()
    rows = ["| campaign | programs | programs per CPU second | vs blind "
            f"without coverage | vs the fuzzer of {old.revision} | kernel "
            "lines reached |", "|---|---|---|---|---|---|"]
    for name, (run, series) in found.items():
        lines = series.points[-1][1] or "-"
        rate = _rate(run)
        rows.append(f"| {name} | {run.total.cases} | {rate:.1f} | "
                    f"{rate / base:.2f} | {rate / then:.2f} | {lines} |")
    rows.append(f"| blind fuzzer of {old.revision} (checker every "
                f"{baseline.CHECK_EVERY}th call) | {old.programs} | "
                f"{then:.1f} | {then / base:.2f} | 1.00 | - |")
    return "\n".join([
        "# Fuzzer figures", "",
        f"Written by `python -m tools.fuzz.plot --seconds {seconds:g} --jobs "
        f"{jobs}`: each campaign ran {seconds:g} s on {jobs} worker "
        "processes of the same machine, one after another. Programs per CPU "
        "second is the figure per core (the machine is shared; CPU time does "
        "not count the time other processes took). The campaigns above the "
        "last row run the checker after every call or fault, "
        f"{seams.SEAM_SHARE:.0%} seam boots and {differential.DIFF_SHARE:.0%} "
        "differential pairs, except make fuzz's, which runs `python "
        f"-m tools.fuzz {' '.join(command.MAKE_FUZZ)}`; the last row is the "
        f"blind fuzzer of revision {old.revision}, run from its own tree "
        "(tools/fuzz/baseline.py).", "",
        *rows, "", "![kernel lines reached, blind against guided]"
        "(fuzz-coverage.svg)", ""])


def _rate(run):
    return run.total.cases / run.cpu if run.cpu else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.fuzz.plot",
                                 description=__doc__)
    ap.add_argument("--seconds", type=float, default=120,
                    help="length of each campaign (default 120)")
    ap.add_argument("--jobs", type=int, default=cluster.default_jobs(),
                    help="worker processes per campaign (default: every "
                    "core)")
    ap.add_argument("--seed", type=int, default=1,
                    help="campaign seed (default 1)")
    ap.add_argument("--out", default=str(ROOT / "docs"), metavar="DIR",
                    help="where to write fuzz-coverage.svg and "
                    "fuzz-figures.md (default: docs/)")
    args = ap.parse_args(argv)
    found = measure(args.seconds, args.jobs, args.seed)
    old = baseline.measure(args.seconds, args.jobs, args.seed)
    out = Path(args.out)
    curves = {n: found[n][1].points for n in COLOURS}
    (out / "fuzz-coverage.svg").write_text(svg(curves, args.seconds))
    text = figures(found, args.seconds, args.jobs, old)
    write_figures(out / "fuzz-figures.md", text)
    print(text)


def write_figures(path, text):
    """Write text as the file at path, keeping the sections (`## `) other
    tools wrote there (tools/fuzz/planted.py's)."""
    old = path.read_text() if path.exists() else ""
    at = old.find("\n## ")
    path.write_text(text + ("\n" + old[at + 1:] if at >= 0 else ""))


if __name__ == "__main__":
    main()
