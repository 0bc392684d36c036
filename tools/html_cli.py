"""The command-line side of the page-table explorer: `--html FILE` on
`ia32k run` and `ia32k trace` (kernel/html.py makes the page)."""

from kernel.html import Explorer


def add_options(ap):
    """Add --html to an argparse parser."""
    ap.add_argument("--html", metavar="FILE",
                    help="write a page-table explorer of the run to FILE: "
                         "one HTML page (open it in any browser) with every "
                         "process's page tables, the frames they share, a "
                         "translate box and a timeline of page walks")


def open_output(args, usage_error):
    """Open --html's file for writing now, before the run starts; a path
    that cannot be written raises usage_error with one clear line."""
    if not args.html:
        return None
    try:
        return open(args.html, "w", encoding="utf-8")
    except OSError as e:
        raise usage_error(f"--html {args.html}: cannot write: "
                          f"{e.strerror}") from None


def attach(k, out, programs):
    """An Explorer observing kernel k when out is open, else None."""
    if out is None:
        return None
    return Explorer("ia32k: " + " ".join(programs)).attach(k)


def finish(explorer, out):
    """Write the page and close its file."""
    if explorer is None:
        return
    with out:
        out.write(explorer.html())
