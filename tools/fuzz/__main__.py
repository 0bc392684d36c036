"""`python -m tools.fuzz`: a hostile-program campaign (`make fuzz`)."""
from tools.fuzz.campaign import main

raise SystemExit(main())
