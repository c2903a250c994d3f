"""The results store: idempotent writes, explicit non-finite values, derived scores, read-only readers."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.engine import StoreError, open_store
from db.models import Metric, Score, Trial
from db.writer import ResultsWriter


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = ResultsWriter(open_store(url))
    sweep = writer.create_sweep("t", "name: t", "h", {"versions": {"python": "3"}})
    cells = writer.add_cells(sweep, [dict(key="k", method="prompt_tuning", task="rte", model="tiny-t5", m=None,
                                          dropout=True, seed=0)])
    trial = writer.start_trial(cells["k"], 0, "ray-1", {"lr": 0.1}, 0.1, 0.01)
    return url, writer, sweep, trial


def test_sqlite_runs_in_wal_mode(store):
    url, writer, *_ = store
    with writer.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_repeated_metric_reports_store_one_row(store):
    url, writer, _, trial = store
    writer.log_metrics(trial, 1, {"val/score": 0.5, "train/loss": 2.0})
    writer.log_metrics(trial, 1, {"val/score": 0.6, "train/loss": 2.0})
    with Session(writer.engine) as s:
        rows = s.scalars(select(Metric).where(Metric.key == "val/score")).all()
    assert [(r.step, r.value) for r in rows] == [(1, 0.6)]


def test_only_metric_keys_are_stored_and_nonfinite_is_explicit(store):
    url, writer, _, trial = store
    stored = writer.log_metrics(trial, 1, {"train/loss": math.nan, "val/x": math.inf, "epoch": 1, "peak/score": 1.0})
    assert stored == 2
    with Session(writer.engine) as s:
        rows = {r.key: (r.value, r.nonfinite) for r in s.scalars(select(Metric))}
    assert rows == {"train/loss": (None, "nan"), "val/x": (None, "inf")}


def test_finish_trial_derives_peak_and_final_scores(store):
    url, writer, _, trial = store
    for step, score in [(1, 0.2), (2, 0.7), (3, 0.5)]:
        writer.log_metrics(trial, step, {"val/score": score, "val/accuracy": score, "train/loss": 1.0 / step})
    writer.finish_trial(trial, "complete", trainable_parameters=640)
    writer.finish_trial(trial, "complete", trainable_parameters=640)  # idempotent
    with Session(writer.engine) as s:
        t = s.get(Trial, trial)
        scores = {(r.selection, r.metric): (r.epoch, r.value) for r in s.scalars(select(Score))}
    assert (t.state, t.objective, t.trainable_parameters) == ("complete", 0.7, 640)
    assert scores == {("peak", "score"): (2, 0.7), ("peak", "accuracy"): (2, 0.7),
                      ("final", "score"): (3, 0.5), ("final", "accuracy"): (3, 0.5)}


def test_readers_cannot_write(store):
    url, *_ = store
    reader = open_store(url, readonly=True)
    with reader.connect() as conn, pytest.raises(OperationalError, match="readonly|read-only|query_only|attempt to write"):
        conn.execute(text("DELETE FROM metrics"))


def test_foreign_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my precious notes")
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_store(f"sqlite:///{path}")
    assert path.read_text() == "my precious notes"


def test_foreign_sqlite_database_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    sqlite3.connect(path).executescript("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');")
    with pytest.raises(StoreError, match="holds other tables"):
        open_store(f"sqlite:///{path}")
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("recipes",)]


def test_reader_on_missing_file_says_what_to_run(tmp_path):
    with pytest.raises(StoreError, match="superpos sweep run"):
        open_store(f"sqlite:///{tmp_path / 'none.db'}", readonly=True)
    assert not (tmp_path / "none.db").exists()
