"""``python -m fastscheduler``: the command-line interface."""

from fastscheduler.cli import main

raise SystemExit(main())
