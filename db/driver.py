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
DRIVER_NAMES = ("superpos", "orchestrator.cli")  # in a driver's command line: the console script, python -m


def _zombie(pid: int) -> bool:
    """A process that has exited but that its parent has not reaped yet (Linux's /proc; elsewhere no)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _command_line(pid: int) -> str | None:
    """The process's command line (Linux's /proc; None where it cannot be read)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def local_state(driver: str | None) -> str:
    """ALIVE, GONE, or UNKNOWN: no driver recorded; it runs on another host; or its pid now belongs to
    a process whose command line names neither superpos nor its CLI module (the pid reused by another
    program after the driver died, or a sweep run from a notebook: nothing can be told)."""
    host, _, pid = (driver or "").rpartition(":")
    if not pid.isdigit() or host != socket.gethostname():
        return UNKNOWN
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return GONE
    except PermissionError:  # another user's process: it exists
        pass
    if _zombie(int(pid)):
        return GONE
    command = _command_line(int(pid))
    return ALIVE if command is None or any(name in command for name in DRIVER_NAMES) else UNKNOWN


def gone_note(sweep_id: int) -> str:
    """What `sweep status`, `sweep list` and the dashboard say of a sweep whose driver is gone."""
    return (f"stored as running, but its driver is gone without storing how the sweep ended (killed?): "
            f"`superpos sweep resume {sweep_id}` continues it")
