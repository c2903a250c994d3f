"""Honest under faults: a trial that raises after its last report is failed, not complete; a resume
(after Ctrl-C or kill -9) continues every interrupted trial from the epoch after its last stored one;
a stored checkpoint that is gone is said, never a silent restart. Real Ray, real SQLite."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess

import pytest

from tests.conftest import REPO
from tests.sweep_cli import (
    CLI,
    cli,
    count,
    first_reported,
    interrupted_with_checkpoint,
    run_spec,
    spec_file,
    tune_runs,
    wait_while_running,
)

pytestmark = pytest.mark.slow


def test_a_trial_that_raises_after_its_last_epoch_is_failed_and_retried(tmp_path):
    """Full fine-tuning runs alone (the solo path); the two prompt methods share a pack."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # output_dir below a file: saving the outputs raises after the last epoch
    out, db = run_spec(tmp_path, f"""
        methods: [prompt_tuning, residual_prompt, full_finetune]
        tasks: [rte]
        dropout: [off]
        optuna: {{{{trials_per_cell: 1}}}}
        training: {{{{epochs: 2, batch_size: 8, max_train_samples: 16, max_eval_samples: 8, eval_mode: rank,
                      output_dir: {blocker}/outputs}}}}
        resources: {{{{retries: 1, pack_size: 2}}}}
        ray: {{{{num_cpus: 2, storage_path: {{storage}}}}}}
    """, returncode=1)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM sweeps").fetchone()[0] == "failed"
        rows = conn.execute("SELECT c.method, t.state, t.failures, t.error, (SELECT COUNT(DISTINCT step) FROM metrics m "
                            "WHERE m.trial_id = t.id AND m.key = 'val/score') FROM trials t JOIN cells c "
                            "ON c.id = t.cell_id").fetchall()
    assert sorted(r[0] for r in rows) == ["full_finetune", "prompt_tuning", "residual_prompt"]
    for method, state, failures, error, epochs in rows:
        assert (state, epochs) == ("failed", 2), method  # it ran its epochs, then raised
        assert failures == (2 if method == "full_finetune" else 1)  # solo: Tune's retry failed too; a member fails alone
        assert "Traceback" in error and ("NotADirectoryError" in error or "FileExistsError" in error), error
    assert out.stdout.count("FAILED: ") == 3 and "peak val score" not in out.stdout  # no trial is reported complete


def test_resume_after_ctrl_c_continues_each_trial_after_its_last_stored_epoch(tmp_path):
    """...and a trial whose checkpoint is gone is named and starts over (never silently)."""
    spec = spec_file(tmp_path, """
        methods: [prompt_tuning, superpos_prompt]
        tasks: [rte]
        m: [8]
        dropout: [off]
        optuna: {{trials_per_cell: 2}}
        training: {{epochs: 6, batch_size: 8, max_train_samples: 160, max_eval_samples: 16, eval_mode: rank}}
        ray: {{num_cpus: 2, storage_path: {storage}}}
    """)
    db, storage = str(tmp_path / "r.db"), tmp_path / "ray"
    proc = subprocess.Popen([*CLI, "sweep", "run", spec, "--db", db], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = ("SELECT COUNT(*) FROM (SELECT t.id, COUNT(*) AS n FROM trials t JOIN metrics m ON m.trial_id = t.id "
               "AND m.key = 'val/score' WHERE t.state = 'running' GROUP BY t.id HAVING COUNT(*) >= {}) AS r")
    try:  # Ctrl-C (SIGINT to the driver) while two trials run, one with two epochs stored or more
        wait_while_running(proc, lambda: count(db, running.format(1)) >= 2 and count(db, running.format(2)) >= 1,
                           timeout=240)
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output[-3000:]
    interrupted = interrupted_with_checkpoint(db)
    assert len(interrupted) >= 2 and any(k >= 2 for k in interrupted.values()), interrupted
    gone = min(interrupted)  # its checkpoint is deleted (a storage folder cleaned up): said, then it starts over
    with sqlite3.connect(db) as conn:
        (checkpoint,) = conn.execute("SELECT checkpoint FROM trials WHERE cell_id = ? AND number = ?", gone).fetchone()
    shutil.rmtree(checkpoint)

    out = cli("sweep", "resume", 1, "--db", db)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert sum("no longer exists" in line and checkpoint in line and "epoch 1" in line
               for line in out.stdout.splitlines()) == 1, out.stdout[-3000:]
    first = first_reported(storage, tune_runs(storage)[-1])
    expected = {key: 1 if key == gone else min(k + 1, 6) for key, k in interrupted.items()}
    assert {key: first.get(key) for key in interrupted} == expected
    # each continued trial's progress line says so, with the epoch its stored checkpoint held
    continued = sorted(int(k) for k in re.findall(r"continued after epoch (\d+)", out.stdout))
    assert continued == sorted(e - 1 for e in expected.values() if e > 1), out.stdout[-3000:]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM trials WHERE state != 'complete'").fetchone()[0] == 0
