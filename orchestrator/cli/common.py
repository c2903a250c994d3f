"""What every `superpos` command shares."""

from __future__ import annotations

import sys

SPEC_HELP = "a sweep spec (YAML), e.g. orchestrator/specs/demo.yaml"
DB_HELP = "results database URL or SQLite path (default: $SUPERPOS_DB or sqlite:///superpos.db)"


def fail(message: str, code: int = 2) -> int:
    print(f"superpos: error: {message}", file=sys.stderr)
    return code
