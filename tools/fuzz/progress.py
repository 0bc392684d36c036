"""Live progress of a campaign (tools/fuzz/rounds.py Run): programs/s,
kernel lines reached, corpus size, violations so far and each worker's
share, redrawn in place with rich. Quiet (nothing drawn) when the output
is not a terminal, so logs and pipes get only the final summary."""

import sys


def table(run):
    """The progress of run as a rich Table."""
    from rich.table import Table
    t = run.total
    secs = max(run.elapsed(), 1e-9)
    head = (f"{t.cases} programs in {secs:.0f} s ({t.cases / secs:.1f}/s), "
            f"{len(run.corpus.lines())} kernel lines, corpus "
            f"{len(run.corpus.entries)}, violations {len(t.violations)}")
    tab = Table(title=head, title_justify="left")
    tab.add_column("worker")
    tab.add_column("programs", justify="right")
    tab.add_column("programs/s", justify="right")
    for name, (cases, busy) in sorted(run.workers.items()):
        tab.add_row(name, str(cases), f"{cases / busy:.1f}" if busy else "-")
    return tab


class Live:
    """A rich live display of a campaign's progress (a context manager;
    update(run) redraws it)."""

    def __init__(self, stream):
        from rich.console import Console
        from rich.live import Live as RichLive
        self.live = RichLive(console=Console(file=stream),
                             auto_refresh=False, transient=True)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def update(self, run):
        self.live.update(table(run), refresh=True)


class Quiet:
    """Shows nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, run):
        pass


def progress(stream=None, enabled=True):
    """A Live display on stream (default stdout) when it is a terminal
    and enabled, else Quiet."""
    stream = stream or sys.stdout
    if enabled and hasattr(stream, "isatty") and stream.isatty():
        return Live(stream)
    return Quiet()
