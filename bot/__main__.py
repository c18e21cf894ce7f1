"""`python -m bot`: the same command line as `coach` (the launcher, not part of the core)."""

from adapters.cli import main

raise SystemExit(main())
