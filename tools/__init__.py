"""Everything that is not the kernel: the command line, builders, observers,
the debugger, the explorer, benchmarks and fuzzers."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: userland/ and .build/ live here."""
