"""Read-only questions about the results store, answered as pandas DataFrames (usable from a notebook).

    from db.engine import open_store
    from db import queries
    engine = open_store("sqlite:///superpos.db", readonly=True)
    queries.comparison_table(engine)
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from db.models import Cell, Score, Sweep, Trial

ROW_KEYS = ["model", "method", "m", "dropout"]


def _frame(engine: Engine, stmt) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def list_sweeps(engine: Engine) -> pd.DataFrame:
    """One row per sweep, newest first, with its trial counts."""
    trials = (
        select(Cell.sweep_id, func.count(Trial.id).label("trials"),
               func.sum(case((Trial.state == "complete", 1), else_=0)).label("complete"),
               func.sum(case((Trial.state == "failed", 1), else_=0)).label("failed"))
        .join(Trial, Trial.cell_id == Cell.id)
        .group_by(Cell.sweep_id)
        .subquery()
    )
    stmt = (
        select(Sweep.id, Sweep.name, Sweep.state, Sweep.created_ms, Sweep.finished_ms, Sweep.git_commit,
               func.coalesce(trials.c.trials, 0).label("trials"),
               func.coalesce(trials.c.complete, 0).label("complete"),
               func.coalesce(trials.c.failed, 0).label("failed"))
        .outerjoin(trials, trials.c.sweep_id == Sweep.id)
        .order_by(Sweep.id.desc())
    )
    df = _frame(engine, stmt)
    for col in ("created_ms", "finished_ms"):
        df[col.replace("_ms", "")] = pd.to_datetime(df.pop(col), unit="ms", utc=True)
    return df


def latest_sweep_id(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(Sweep.id))).scalar()


def trials_frame(engine: Engine, sweep_id: int | None = None) -> pd.DataFrame:
    """One row per trial with its cell values, learning rate, state and objective."""
    stmt = (
        select(Trial.id.label("trial_id"), Cell.sweep_id, Cell.id.label("cell_id"), Cell.method, Cell.task,
               Cell.model, Cell.m, Cell.dropout, Cell.seed, Trial.number, Trial.lr, Trial.weight_decay,
               Trial.state, Trial.objective, Trial.trainable_parameters, Trial.started_ms, Trial.finished_ms,
               Trial.error)
        .join(Cell, Trial.cell_id == Cell.id)
        .order_by(Trial.id)
    )
    if sweep_id is not None:
        stmt = stmt.where(Cell.sweep_id == sweep_id)
    return _frame(engine, stmt)


def comparison_table(
    engine: Engine, sweep_id: int | None = None, split: str = "val", selection: str = "peak"
) -> pd.DataFrame:
    """The paper's Table 1 shape: rows model x method x m x dropout, columns tasks, plus the average.

    Per cell the best trial by objective (Optuna's choice of learning rate) gives the cell's task
    score; seeds are averaged; values are in percent. The average is the plain mean over the tasks
    (NaN while a task is missing, as the paper averages all 13).
    """
    sweep_id = latest_sweep_id(engine) if sweep_id is None else sweep_id
    stmt = (
        select(Cell.id.label("cell_id"), *[getattr(Cell, k) for k in ROW_KEYS], Cell.task, Cell.seed,
               Trial.objective, Score.value)
        .join(Trial, Trial.cell_id == Cell.id)
        .join(Score, Score.trial_id == Trial.id)
        .where(Cell.sweep_id == sweep_id, Trial.state == "complete", Score.split == split,
               Score.selection == selection, Score.metric == "score")
    )
    df = _frame(engine, stmt)
    if df.empty:
        return pd.DataFrame(columns=[*ROW_KEYS, "average"])
    best = df.sort_values("objective", ascending=False).drop_duplicates("cell_id")
    best = best.assign(m=best["m"].astype("Int64"), value=best["value"] * 100)
    table = best.groupby([*ROW_KEYS, "task"], dropna=False)["value"].mean().unstack("task")
    table.columns.name = None
    table["average"] = table.mean(axis=1, skipna=False)
    return table.reset_index().sort_values(ROW_KEYS, ignore_index=True)
