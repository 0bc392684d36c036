"""`python -m tools.bench`: every figure of `make bench`."""
from tools.bench.main import main

main()
