"""`python -m tools.cli`: the same as the `ia32k` command."""
import sys

from tools.cli.main import main

if __name__ == "__main__":          # not in a Dask worker importing it
    sys.exit(main())
