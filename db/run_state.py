"""What a running or resumed sweep asks the store about its own trials: each cell's history (to rebuild
its studies), the peaks per epoch (to refill early stopping's rungs), each cell's progress (how the
run ended), the failed trials' retries and errors. Read-only, like db/queries.py (the questions a
user asks)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from db.models import Cell, Trial
from db.queries import read_frame

HISTORY = ("number", "role", "seed", "lr", "state", "objective", "failures", "checkpoint")


def cell_history(engine: Engine, sweep_id: int) -> dict[str, list[dict]]:
    """Per cell key, its trials so far (number, role, seed, lr, state, objective, failures, checkpoint),
    by number: what a resumed sweep rebuilds its studies from."""
    stmt = (select(Cell.key, *(getattr(Trial, k) for k in HISTORY))
            .join(Trial, Trial.cell_id == Cell.id).where(Cell.sweep_id == sweep_id).order_by(Cell.key, Trial.number))
    history: dict[str, list[dict]] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt).mappings():
            history.setdefault(row["key"], []).append({k: row[k] for k in HISTORY})
    return history


def epoch_peaks(engine: Engine, sweep_id: int) -> dict[str, dict[int, dict[int, float]]]:
    """Per cell key and search trial id, the best validation score up to each stored epoch (what
    early stopping compares on resume)."""
    stmt = text("SELECT c.key, m.trial_id, m.step, m.value FROM metrics m JOIN trials t ON t.id = m.trial_id "
                "JOIN cells c ON c.id = t.cell_id WHERE c.sweep_id = :sweep_id AND t.role = 'search' "
                "AND m.key = 'val/score' AND m.value IS NOT NULL ORDER BY c.key, m.trial_id, m.step")
    peaks: dict[str, dict[int, dict[int, float]]] = {}
    with engine.connect() as conn:
        for key, trial_id, step, value in conn.execute(stmt, {"sweep_id": sweep_id}):
            series = peaks.setdefault(key, {}).setdefault(trial_id, {})
            series[step] = max(value, max(series.values(), default=value))
    return peaks


def cell_progress(engine: Engine, sweep_id: int) -> pd.DataFrame:
    """Per cell: finished search trials, failed ones, finished replicas, and the first line of the
    latest error (what the end of a run reports)."""
    stmt = text("""
        SELECT c.id AS cell_id, c.key,
               SUM(CASE WHEN t.role = 'search' AND t.state IN ('complete', 'stopped') THEN 1 ELSE 0 END) AS search_done,
               SUM(CASE WHEN t.role = 'replica' AND t.state IN ('complete', 'stopped') THEN 1 ELSE 0 END) AS replicas_done,
               SUM(CASE WHEN t.state = 'failed' THEN 1 ELSE 0 END) AS failed,
               SUM(CASE WHEN t.state IN ('running', 'pending', 'interrupted') THEN 1 ELSE 0 END) AS unfinished,
               MAX(CASE WHEN t.state = 'failed' THEN t.error END) AS error
        FROM cells c LEFT JOIN trials t ON t.cell_id = c.id
        WHERE c.sweep_id = :sweep_id GROUP BY c.id, c.key ORDER BY c.id""")
    df = read_frame(engine, stmt, sweep_id=sweep_id)
    for col in ("search_done", "replicas_done", "failed", "unfinished"):
        df[col] = df[col].fillna(0).astype(int)
    return df


def retries_left(failures: int, retries: int) -> bool:
    """The failure budget, one rule for live runs and resumes: a trial may run again until it has
    failed `retries + 1` times (its first attempt and `retries` re-runs)."""
    return failures <= retries


def failed_retries(engine: Engine, sweep_id: int, retries: int) -> tuple[int, int]:
    """(failed trials that a resume re-runs: retries left, failed trials out of retries)."""
    stmt = (select(Trial.failures).join(Cell, Trial.cell_id == Cell.id)
            .where(Cell.sweep_id == sweep_id, Trial.state == "failed"))
    with engine.connect() as conn:
        failures = [f or 0 for (f,) in conn.execute(stmt)]
    left = sum(retries_left(f, retries) for f in failures)
    return left, len(failures) - left


def trial_errors(engine: Engine, sweep_id: int) -> list[tuple]:
    """(trial id, cell key, number, state, failures, error) of every trial of a sweep that raised: the
    failed ones, and those that recovered on a retry or a resume (their last error is kept)."""
    stmt = (select(Trial.id, Cell.key, Trial.number, Trial.state, Trial.failures, Trial.error)
            .join(Cell, Trial.cell_id == Cell.id)
            .where(Cell.sweep_id == sweep_id, (Trial.state == "failed") | Trial.error.is_not(None))
            .order_by(Trial.state != "failed", Trial.id))
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(stmt)]
