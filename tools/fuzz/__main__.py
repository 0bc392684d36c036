"""`python -m tools.fuzz`: a hostile-program campaign (`make fuzz`)."""
from tools.fuzz.command import main

raise SystemExit(main())
