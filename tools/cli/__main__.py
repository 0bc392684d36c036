"""`python -m tools.cli`: the same as the `ia32k` command."""
import sys

from tools.cli.main import main

sys.exit(main())
