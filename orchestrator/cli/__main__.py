"""`python -m orchestrator.cli`: the same as the `superpos` command."""

from orchestrator.cli import main

raise SystemExit(main())
