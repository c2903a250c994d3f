"""What every `superpos` command shares."""

from __future__ import annotations

import sys

DB_HELP = "results database URL or SQLite path (default: $SUPERPOS_DB or sqlite:///superpos.db)"


def fail(message: str) -> int:
    print(f"superpos: error: {message}", file=sys.stderr)
    return 2
