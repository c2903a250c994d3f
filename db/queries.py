"""Read-only questions about the results store, answered as pandas DataFrames (usable from a notebook):
sweeps, trials, cells, curves, snapshots, the imported paper numbers. The paper's tables built from
them are db/tables.py.

Most answers come from the SQL views `trial_summary`, `best_trials`, `reported_trials` and
`cell_results` (db/migrations), so the same questions can be asked in plain SQL (see the README).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, case, func, select, text
from sqlalchemy.engine import Engine

from db.models import Cell, ReferenceResult, Snapshot, Sweep, Trial
from workers.tasks import TASKS

ROW_KEYS = ["model", "method", "m", "options", "dropout"]


UNLABELLED = ("m", "source_sha256")  # m has its own column; the source pins are hashes (the cell key keeps them)


def options_label(options_json: str | None) -> str:
    """A cell's grid options other than m and the source pins, e.g. 'softmax=true'; '' when none."""
    options = json.loads(options_json or "{}")
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(options.items()) if k not in UNLABELLED)


def read_frame(engine: Engine, stmt, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt, params)
        # plain tuples: pandas builds a frame from Row objects about 10x slower
        return pd.DataFrame.from_records([tuple(row) for row in result], columns=list(result.keys()))


def list_sweeps(engine: Engine) -> pd.DataFrame:
    """One row per sweep, newest first, with its trial counts."""
    trials = (
        select(Cell.sweep_id, func.count(Trial.id).label("trials"),
               func.sum(case((Trial.state == "complete", 1), else_=0)).label("complete"),
               func.sum(case((Trial.state == "stopped", 1), else_=0)).label("stopped"),
               func.sum(case((Trial.state == "failed", 1), else_=0)).label("failed"))
        .join(Trial, Trial.cell_id == Cell.id)
        .group_by(Cell.sweep_id)
        .subquery()
    )
    stmt = (
        select(Sweep.id, Sweep.name, Sweep.state, Sweep.created_ms, Sweep.finished_ms, Sweep.git_commit,
               Sweep.hardware, Sweep.planned_trials, func.coalesce(trials.c.trials, 0).label("trials"),
               func.coalesce(trials.c.complete, 0).label("complete"),
               func.coalesce(trials.c.stopped, 0).label("stopped"),
               func.coalesce(trials.c.failed, 0).label("failed"))
        .outerjoin(trials, trials.c.sweep_id == Sweep.id)
        .order_by(Sweep.id.desc())
    )
    df = read_frame(engine, stmt)
    for col in ("created_ms", "finished_ms"):
        df[col.replace("_ms", "")] = pd.to_datetime(df.pop(col), unit="ms", utc=True)
    return df


def sweep_details(engine: Engine, sweep_id: int) -> dict:
    """The spec as submitted and where it ran: commit, dirty flag, package versions, hardware, and its
    inputs pinned (each model's and dataset's commit or content hash)."""
    with engine.connect() as conn:
        row = conn.execute(select(Sweep.name, Sweep.state, Sweep.spec_text, Sweep.spec_hash, Sweep.git_commit,
                                  Sweep.git_dirty, Sweep.versions, Sweep.inputs, Sweep.hardware, Sweep.planned_trials,
                                  Sweep.driver, Sweep.job_id, Sweep.job_address, Sweep.created_ms,
                                  Sweep.finished_ms).where(Sweep.id == sweep_id)).mappings().one_or_none()
    if row is None:
        raise ValueError(f"no sweep {sweep_id} in this database; `superpos sweep list` shows the sweeps")
    return {**row, "versions": json.loads(row["versions"] or "{}"), "inputs": json.loads(row["inputs"] or "{}")}


def latest_sweep_id(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(Sweep.id))).scalar()


def _view(engine: Engine, view: str, sweep_id: int | None, order: str = "trial_id") -> pd.DataFrame:
    where = "" if sweep_id is None else " WHERE sweep_id = :sweep_id"
    df = read_frame(engine, text(f"SELECT * FROM {view}{where} ORDER BY {order}"),  # noqa: S608 - fixed names
                **({} if sweep_id is None else {"sweep_id": sweep_id}))
    if not df.empty:
        df["dropout"] = df["dropout"].astype(bool)
        df["m"] = df["m"].astype("Int64")
        df["options"] = df["options"].map(options_label)
    return df


def trials_frame(engine: Engine, sweep_id: int | None = None) -> pd.DataFrame:
    """One row per trial (the `trial_summary` view): cell values, learning rate, state, scores."""
    return _view(engine, "trial_summary", sweep_id)


def best_trials(engine: Engine, sweep_id: int | None = None) -> pd.DataFrame:
    """The best finished (complete or stopped early) trial per cell by validation objective."""
    return _view(engine, "best_trials", sweep_id)


def cell_results(engine: Engine, sweep_id: int | None = None) -> pd.DataFrame:
    """One row per cell (the `cell_results` view): the chosen trial's rate and objective, and the
    reported score over the chosen trial and its replicas (other seeds): mean, std and n."""
    return _view(engine, "cell_results", sweep_id, order="cell_id")


def chosen_and_replicas(engine: Engine, sweep_id: int) -> pd.DataFrame:
    """The `trial_summary` rows of each cell's chosen trial and its finished replicas (the
    `reported_trials` view: the trials that the tables average over seeds)."""
    trials = trials_frame(engine, sweep_id)
    if trials.empty:
        return trials
    reported = read_frame(engine, text("SELECT rt.trial_id FROM reported_trials rt JOIN cells c ON c.id = rt.cell_id "
                                       "WHERE c.sweep_id = :sweep_id"), sweep_id=sweep_id)
    return trials[trials["trial_id"].isin(reported["trial_id"])]


def learning_curves(engine: Engine, sweep_id: int, key: str = "val/score", best_only: bool = True) -> pd.DataFrame:
    """Per-epoch values of one metric key, with each trial's cell values. `best_only`: each cell's chosen
    trial and its replicas (the same rate, other seeds), which the tables average; else every trial."""
    trials = chosen_and_replicas(engine, sweep_id) if best_only else trials_frame(engine, sweep_id)
    if trials.empty:
        return pd.DataFrame(columns=["trial_id", "step", "value", *ROW_KEYS, "task", "seed", "lr"])
    stmt = text("SELECT trial_id, step, value, nonfinite FROM metrics WHERE key = :key AND trial_id IN :ids "
                "ORDER BY trial_id, step").bindparams(bindparam("ids", expanding=True))
    values = read_frame(engine, stmt, key=key, ids=[int(i) for i in trials["trial_id"]])
    cells = trials[["trial_id", *ROW_KEYS, "task", "seed", "lr"]]
    return values.merge(cells, on="trial_id")


def trial_detail(engine: Engine, trial_id: int) -> tuple[dict, pd.DataFrame]:
    """One trial's full config (JSON) and every metric it stored per epoch (key, step, value)."""
    with engine.connect() as conn:
        config = conn.execute(select(Trial.config).where(Trial.id == trial_id)).scalar()
    if config is None:
        raise ValueError(f"no trial {trial_id} in this database")
    metrics = read_frame(engine, text("SELECT key, step, value FROM metrics WHERE trial_id = :trial_id "
                                  "ORDER BY key, step"), trial_id=trial_id)
    return json.loads(config), metrics


def metrics_frame(engine: Engine, sweep_id: int | None = None) -> pd.DataFrame:
    """Every stored epoch metric, long: (sweep, cell key, trial id, number, key, step, value)."""
    where = "" if sweep_id is None else " WHERE c.sweep_id = :sweep_id"
    return read_frame(engine, text("SELECT c.sweep_id, c.key AS cell_key, t.id AS trial_id, t.number, m.key, m.step, "
                               "m.value FROM metrics m JOIN trials t ON t.id = m.trial_id JOIN cells c ON "
                               f"c.id = t.cell_id{where} ORDER BY t.id, m.key, m.step"),  # noqa: S608 - fixed SQL
                  **({} if sweep_id is None else {"sweep_id": sweep_id}))


def trial_error(engine: Engine, trial_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(Trial.error).where(Trial.id == trial_id)).scalar()


def metric_keys(engine: Engine, sweep_id: int) -> list[str]:
    """The metric keys stored for a sweep (for pickers)."""
    stmt = text("SELECT DISTINCT m.key FROM metrics m JOIN trials t ON t.id = m.trial_id "
                "JOIN cells c ON c.id = t.cell_id WHERE c.sweep_id = :sweep_id ORDER BY m.key")
    return read_frame(engine, stmt, sweep_id=sweep_id)["key"].tolist()


SCORE_NAMES = {"score", *(metric for task in TASKS.values() for metric in task.metrics)}


def is_score(key: str) -> bool:
    """A metric key whose values are task scores in 0..1, which the paper prints (and the dashboard shows)
    in percent: "val/score", "peak/score", "val/matthews", ...; not "train/loss" or "peak/epoch"."""
    return key.rsplit("/", 1)[-1] in SCORE_NAMES


def snapshots(engine: Engine, sweep_id: int, name: str = "pprime") -> pd.DataFrame:
    """Learned tensors of each cell's chosen trial and its replicas (column `seed`), as numpy arrays in
    column `array`."""
    best = chosen_and_replicas(engine, sweep_id)
    if best.empty:
        return pd.DataFrame(columns=["trial_id", "step", "array", *ROW_KEYS, "task", "seed"])
    stmt = select(Snapshot).where(Snapshot.name == name, Snapshot.trial_id.in_([int(i) for i in best["trial_id"]]))
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    arrays = pd.DataFrame([{"trial_id": r["trial_id"], "step": r["step"],
                            "array": np.asarray(json.loads(r["values"]), dtype=r["dtype"]).reshape(json.loads(r["shape"]))}
                           for r in rows], columns=["trial_id", "step", "array"])
    return arrays.merge(best[["trial_id", *ROW_KEYS, "task", "seed"]], on="trial_id")


def reference_results(engine: Engine, source: str | None = None) -> pd.DataFrame:
    """The imported published numbers (`superpos db import-reference`), optionally of one source."""
    table = ReferenceResult.__table__
    stmt = select(table) if source is None else select(table).where(table.c.source == source)
    return read_frame(engine, stmt)
