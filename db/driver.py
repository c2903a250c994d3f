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
import time
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


def _command_line(pid: int, wait_s: float = 0.5) -> str | None:
    """The process's command line (Linux's /proc; None where it cannot be read).

    It reads empty for a moment while a process execs: exec closes the parent's pipe (so Popen has
    returned) before the kernel has set out the new program's arguments. It is read again for up to
    `wait_s`; a kernel thread's stays empty."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if raw or time.monotonic() >= deadline:
            return raw.replace(b"\0", b" ").decode(errors="replace")
        time.sleep(0.01)


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
