"""A results store that refuses writes while a sweep runs (here: another program holds SQLite's write
lock, as a SQLite browser with unsaved edits does, past the driver's busy wait; a full disk, tried by
hand on a 3 MB tmpfs, ends the same way). The sweep ended in three chained tracebacks (the store's
error, Tune's TuneError holding its text, the same error again from recording the end), exit 1, and was
stored `failed` where the end could still be written. Now: one line naming the store, the cause and the
resume; the trials stop; what was stored stays; the sweep can be resumed. Real Ray, real SQLite."""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys

import pytest

from tests.cli_here import superpos
from tests.conftest import REPO
from tests.sweep_cli import CLI, count, spec_file, wait_while_running

pytestmark = pytest.mark.slow  # a real Ray sweep

HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # the write lock; readers go on
print("held", flush=True)
time.sleep(300)
"""


def test_a_store_that_refuses_writes_mid_run_stops_the_sweep_in_one_line_and_it_can_resume(tmp_path):
    spec = spec_file(tmp_path, """
        methods: [prompt_tuning]
        tasks: [rte]
        dropout: [off]
        optuna: {{trials_per_cell: 2}}
        training: {{epochs: 30, batch_size: 8, max_train_samples: 32, max_eval_samples: 8, eval_mode: rank}}
        ray: {{num_cpus: 2, storage_path: {storage}}}
    """)
    (tmp_path / "my store").mkdir()
    db = str(tmp_path / "my store" / "r.db")  # the suggested command quotes it, so that it pastes
    env = {**os.environ, "SUPERPOS_SQLITE_BUSY_S": "1"}  # not the 30 s a user's sweep waits
    driver = subprocess.Popen([*CLI, "sweep", "run", spec, "--db", db], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    holder = None
    try:
        # an epoch or two stored
        wait_while_running(driver, lambda: count(db, "SELECT COUNT(*) FROM metrics WHERE key = 'val/score'") >= 2)
        holder = subprocess.Popen([sys.executable, "-c", HOLD, db], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        stored = count(db, "SELECT COUNT(*) FROM metrics")
        out, err = driver.communicate(timeout=120)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 1, (out[-2000:], err[-3000:])
    assert "Traceback" not in out + err and "sqlalche.me" not in err and "TuneError" not in err, err[-3000:]
    said = [line for line in err.splitlines() if line.startswith("superpos: error:")]
    assert len(said) == 1 and "refused a write (database is locked)" in said[0], err[-3000:]
    assert f"`superpos sweep resume 1 --db 'sqlite:///{db}'` continues it" in said[0]
    pasted = shlex.split(said[0].split("`")[-2])  # as a shell reads the suggestion

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] >= stored  # nothing stored was lost
        state = conn.execute("SELECT state FROM sweeps").fetchone()[0]
        finished = conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'complete'").fetchone()[0]
    assert state in ("running", "interrupted") and finished < 2  # never `failed` or `complete`: it stopped
    assert pasted[:4] == ["superpos", "sweep", "resume", "1"] and pasted[4] == "--db"
    status = superpos("sweep", "status", 1, "--db", pasted[5])  # its driver is gone: resumable
    assert status.returncode == 0 and "resume continues them" in status.stdout, status.stdout[-2000:]
