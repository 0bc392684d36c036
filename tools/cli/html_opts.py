"""The command-line side of the page-table explorer: `--html FILE` on
`ia32k run` and `ia32k trace` (tools/explorer/page.py makes the page)."""

from pathlib import Path

from tools.cli import outputs
from tools.explorer.page import Explorer


def add_options(ap):
    """Add --html to an argparse parser."""
    ap.add_argument("--html", metavar="FILE",
                    help="write a page-table explorer of the run to FILE "
                         "('-': stdout): "
                         "one HTML page (open it in any browser) that draws "
                         "the page walk of any address, the walks of two "
                         "processes ending in the frame they share, every "
                         "process's page tables, a searchable timeline of "
                         "page walks and what changed between two moments")


def check_output(args, usage_error):
    """Make sure --html's file can be written, now, before the run starts
    (a path that cannot raises usage_error with one clear line); '-' is
    stdout. The file is left as it was: the page is written at the end."""
    if not args.html:
        return None
    outputs.check("--html", args.html, usage_error)
    return Path(args.html) if args.html != outputs.STDOUT else args.html


def attach(k, path, programs):
    """An Explorer observing kernel k when a page is asked for, else None."""
    if path is None:
        return None
    return Explorer("ia32k: " + " ".join(programs)).attach(k)


def finish(explorer, path):
    """Write the page."""
    if explorer is not None:
        f = outputs.open_text(str(path))
        f.write(explorer.html())
        outputs.close(f)
