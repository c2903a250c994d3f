"""Whether the driver a store names for a running sweep still runs on this machine.

A sweep's row says `running` from its start until its driver writes how it ended. A driver killed
with SIGKILL, by the out-of-memory killer or by a reboot never writes that, so the row says
`running` for good. The row names its driver (`host:pid`, `sweeps.driver`); on that host the process
can be looked up. Standard library only, so the dashboard can ask too; a submitted sweep's Ray job is
asked by orchestrator/cli/jobs.py.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"


def _zombie(pid: int) -> bool:
    """A process that has exited but that its parent has not reaped yet (Linux's /proc; elsewhere no)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def local_state(driver: str | None) -> str:
    """ALIVE, GONE, or UNKNOWN (no driver recorded, or it runs on another host)."""
    host, _, pid = (driver or "").rpartition(":")
    if not pid.isdigit() or host != socket.gethostname():
        return UNKNOWN
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return GONE
    except PermissionError:  # another user's process: it exists
        return ALIVE
    return GONE if _zombie(int(pid)) else ALIVE
