"""What a running or resumed sweep asks the store about its own trials: each cell's history (to rebuild
its studies), the peaks per epoch (to refill early stopping's rungs), each cell's progress (how the
run ended), the failed trials' retries and errors. Read-only, like db/queries.py (the questions a
user asks)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from db.models import Cell, Trial, one_of
from db.queries import read_frame
from workers.members import FINISHED, running_peaks

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
    scores: dict[str, dict[int, dict[int, float]]] = {}
    with engine.connect() as conn:
        for key, trial_id, step, value in conn.execute(stmt, {"sweep_id": sweep_id}):
            scores.setdefault(key, {}).setdefault(trial_id, {})[step] = value
    return {key: {trial: {epoch: peak for epoch, (_, peak) in running_peaks(series).items()}
                  for trial, series in trials.items()} for key, trials in scores.items()}


def cell_progress(engine: Engine, sweep_id: int) -> pd.DataFrame:
    """Per cell: finished search trials, failed ones, finished replicas, and the first line of the
    latest error (what the end of a run reports); the cells it waits for (`sources`, a staged sweep)
    and why it is blocked."""
    stmt = text("""
        SELECT c.id AS cell_id, c.key, MAX(c.sources) AS sources, MAX(c.blocked) AS blocked,
               SUM(CASE WHEN t.role = 'search' AND {finished} THEN 1 ELSE 0 END) AS search_done,
               SUM(CASE WHEN t.role = 'replica' AND {finished} THEN 1 ELSE 0 END) AS replicas_done,
               SUM(CASE WHEN t.state = 'failed' THEN 1 ELSE 0 END) AS failed,
               SUM(CASE WHEN t.state IN ('running', 'interrupted') THEN 1 ELSE 0 END) AS unfinished,
               MAX(CASE WHEN t.state = 'failed' THEN t.error END) AS error
        FROM cells c LEFT JOIN trials t ON t.cell_id = c.id
        WHERE c.sweep_id = :sweep_id GROUP BY c.id, c.key ORDER BY c.id""".format(finished=one_of("t.state", FINISHED)))
    df = read_frame(engine, stmt, sweep_id=sweep_id)
    for col in ("search_done", "replicas_done", "failed", "unfinished"):
        df[col] = df[col].fillna(0).astype(int)
    for col in ("sources", "blocked"):  # None, not NaN (which reads as true)
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def eta_seconds(work_left: float, seconds_per_unit: float, at_once: int = 1) -> float:
    """The one ETA rule: the work left x the time one unit of it takes / the units done at once."""
    return max(0.0, work_left) * seconds_per_unit / max(1, at_once)


@dataclass(frozen=True)
class Eta:
    seconds: float
    trials_left: int
    median_trial_s: float
    running: int  # trials at a time (at least 1)


def store_eta(trials: pd.DataFrame, planned: int) -> Eta | None:
    """A sweep's ETA from its trial rows (`queries.trials_frame`): trials not yet done (finished or
    failed) x the median trial's time / the trials running; None before any trial has finished."""
    seconds = trials["seconds"].dropna() if len(trials) else pd.Series(dtype=float)
    if seconds.empty:
        return None
    done = int(trials["state"].isin([*FINISHED, "failed"]).sum())
    running = max(1, int((trials["state"] == "running").sum()))
    median, left = float(seconds.median()), max(0, planned - done)
    return Eta(eta_seconds(left, median, running), left, median, running)


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
