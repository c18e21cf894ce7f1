"""`python -m bot`: the same command line as `coach`."""

from bot.cli import main

raise SystemExit(main())
