"""Running `superpos sweep ...` as a user does, for the sweep tests: a spec file from a template, the
CLI in a subprocess, SQL counts on the store while it runs, and a kill -9 at a chosen point."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from tests.conftest import REPO

CLI = [sys.executable, "-m", "orchestrator.cli"]


def spec_file(tmp_path, body: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(body).format(storage=tmp_path / "ray"))
    return str(path)


def cli(*args, timeout=300):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def count(db: str, sql: str) -> int:
    if not os.path.exists(db):
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # the schema is being created
        return 0


def run_and_kill(args: list, db: str, condition: str, at_least: int, timeout: float = 240) -> bool:
    """Start `superpos ...` in its own process group; SIGKILL the group (driver and its local Ray) once
    `condition` (SQL count) reaches `at_least`. False if it ended by itself first."""
    proc = subprocess.Popen([*CLI, *map(str, args)], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if count(db, condition) >= at_least:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return True
            time.sleep(0.05)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


RUNNING_WITH_AN_EPOCH = ("SELECT COUNT(*) FROM trials t WHERE t.state = 'running' AND "
                         "EXISTS (SELECT 1 FROM metrics m WHERE m.trial_id = t.id)")
FINISHED = "SELECT COUNT(*) FROM trials WHERE state IN ('complete', 'stopped')"


def run_spec(tmp_path, body: str, returncode: int = 0):
    """`superpos sweep run` on the spec `body` into tmp_path/r.db: (the finished process, the db path)."""
    db = tmp_path / "r.db"
    out = cli("sweep", "run", spec_file(tmp_path, body), "--db", db)
    assert out.returncode == returncode, (out.stdout[-2000:], out.stderr[-3000:])
    return out, db
