"""`python -m tools.fuzz`: a hostile-program campaign (`make fuzz`)."""
from tools.fuzz.command import main

if __name__ == "__main__":          # not in a Dask worker importing it
    raise SystemExit(main())
