"""A trial's row: written only by the trial it describes, its failures counted, its last error kept
(also once a retry or a resume finished it), what a resume and `sweep status --errors` read back."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from db import run_state
from db.models import Trial


def test_a_trial_row_is_never_written_by_another_trial(store):
    """Only a continuation (same rate and seed, of an interrupted or failed trial) may take a row over."""
    url, writer, trial = store
    with Session(writer.engine) as s:
        row = s.get(Trial, trial)
        cell_id, number, lr, seed, ray_id = row.cell_id, row.number, row.lr, row.seed, row.ray_trial_id
        config = json.loads(row.config)
    with pytest.raises(ValueError, match=f"belongs to Ray trial {ray_id}"):
        writer.start_trial(cell_id, number, "other", config, lr, None)
    writer.finish_trial(trial, "complete")
    with pytest.raises(ValueError, match="may not write it"):  # a finished trial is never continued
        writer.start_trial(cell_id, number, "other", config, lr, None, continuing=True)
    writer.finish_trial(trial, "interrupted")
    with pytest.raises(ValueError, match="may not write it"):  # another rate is another trial
        writer.start_trial(cell_id, number, "other", {**config, "seed": seed}, lr * 2, None, continuing=True)
    assert writer.start_trial(cell_id, number, "other", config, lr, None, continuing=True) == trial


def test_a_failed_attempt_is_counted_and_its_error_kept(store):
    url, writer, trial = store
    writer.record_failure([trial], "Traceback (most recent call last):\nValueError: one")
    writer.record_failure([trial], "Traceback (most recent call last):\nValueError: two")
    with Session(writer.engine) as s:
        t = s.get(Trial, trial)
        assert t.failures == 2 and t.error.endswith("two")


def test_a_packs_failed_attempt_is_counted_for_every_member_in_one_write(store):
    """A pack's members fail together: each is counted, in one transaction, so a write that stops
    midway (here: a row that does not exist, after the real ones) leaves none of them counted, and a
    resume that packs them apart gives each the same retries left."""
    url, writer, first = store
    with Session(writer.engine) as s:
        row = s.get(Trial, first)
        cell_id, config = row.cell_id, json.loads(row.config)
    second = writer.start_trial(cell_id, 1, "ray-pack-1", config, 0.2, None)
    with pytest.raises(ValueError, match="no trial row"):
        writer.record_failure([first, second, second + 1000], "Traceback (most recent call last):\nValueError: x")
    with Session(writer.engine) as s:
        assert [s.get(Trial, i).failures or 0 for i in (first, second)] == [0, 0]
    writer.record_failure([first, second], "Traceback (most recent call last):\nValueError: pack")
    with Session(writer.engine) as s:
        assert [(s.get(Trial, i).failures, s.get(Trial, i).error[-4:]) for i in (first, second)] == [(1, "pack")] * 2


def test_a_trial_that_fails_is_closed_with_its_failure_counted_in_one_write(store):
    """Closing a failed trial counts the failure with it: no separate write that a kill -9 could
    leave counted on a trial still open (a resume would then run it with one retry fewer)."""
    url, writer, trial = store
    writer.record_failure([trial], "Traceback (most recent call last):\nValueError: retried")
    writer.finish_trial(trial, "failed", "Traceback (most recent call last):\nValueError: last")
    with Session(writer.engine) as s:
        t = s.get(Trial, trial)
        assert (t.state, t.failures) == ("failed", 2) and t.error.endswith("last")


def test_a_trial_that_recovers_keeps_its_last_error_and_is_listed_with_it(store):
    url, writer, trial = store
    writer.record_failure([trial], "Traceback (most recent call last):\nNodeLostError: the node was lost")
    writer.log_metrics(trial, 1, {"val/score": 0.5}, checkpoint=([trial], "/ckpt/checkpoint_000001"))
    writer.finish_trial(trial, "complete")
    with Session(writer.engine) as s:
        t = s.get(Trial, trial)
        assert (t.state, t.failures, t.checkpoint) == ("complete", 1, "/ckpt/checkpoint_000001")
        assert t.error.endswith("NodeLostError: the node was lost")
        sweep = t.cell.sweep_id
    (row,) = run_state.trial_errors(writer.engine, sweep)
    assert row[3:5] == ("complete", 1) and "NodeLostError" in row[5]
    assert run_state.failed_retries(writer.engine, sweep, retries=0) == (0, 0)  # it is not failed
