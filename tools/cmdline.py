"""The command line of a tool module that takes no options: `--help`
prints what it does and exits; any other argument is an error."""

import argparse


def no_options(module, doc, argv=None):
    """Parse argv (default sys.argv) for `python -m module`, whose
    description is doc: exits after --help, fails on anything else."""
    argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
