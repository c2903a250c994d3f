"""Read-only questions about the results store, answered as pandas DataFrames (usable from a notebook).

    from db.engine import open_store
    from db import queries
    engine = open_store("sqlite:///superpos.db", readonly=True)
    queries.comparison_table(engine)

Most answers come from the SQL views `trial_summary` and `best_trials` (db/migrations), so the same
questions can be asked in plain SQL (see the README).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, case, func, select, text
from sqlalchemy.engine import Engine

from db.models import Cell, ReferenceResult, Snapshot, Sweep, Trial

ROW_KEYS = ["model", "method", "m", "options", "dropout"]
REPORTED = {"peak": "score", "final": "score_final"}  # cell_results columns: <name>_mean, <name>_std


def options_label(options_json: str | None) -> str:
    """A cell's grid options other than m (m has its own column), e.g. 'softmax=true'; '' when none."""
    options = json.loads(options_json or "{}")
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(options.items()) if k != "m")


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
    """The spec as submitted and where it ran: commit, dirty flag, package versions, hardware."""
    with engine.connect() as conn:
        row = conn.execute(select(Sweep.name, Sweep.state, Sweep.spec_text, Sweep.spec_hash, Sweep.git_commit,
                                  Sweep.git_dirty, Sweep.versions, Sweep.hardware, Sweep.planned_trials,
                                  Sweep.driver, Sweep.job_id, Sweep.job_address, Sweep.created_ms,
                                  Sweep.finished_ms).where(Sweep.id == sweep_id)).mappings().one_or_none()
    if row is None:
        raise ValueError(f"no sweep {sweep_id} in this database; `superpos sweep list` shows the sweeps")
    return {**row, "versions": json.loads(row["versions"] or "{}")}


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


def comparison_tables(engine: Engine, sweep_id: int | None = None, selection: str = "peak") -> dict[str, pd.DataFrame]:
    """The paper's Table 1 shape: rows model x method x options x dropout, columns tasks (plus the average).

    Per cell the chosen trial (Optuna's best learning rate) and its replicas give the cell's reported
    task score (validation under the paper's protocol, held-out test otherwise), at the peak epoch or
    the final one. {"mean": in percent over seeds, "std": its sample standard deviation, "n": seeds}.
    """
    sweep_id = latest_sweep_id(engine) if sweep_id is None else sweep_id
    cells = cell_results(engine, sweep_id)
    if cells.empty:
        empty = pd.DataFrame(columns=[*ROW_KEYS, "average"])
        return {"mean": empty, "std": empty.copy(), "n": empty.copy()}
    column, keys = REPORTED[selection], [*ROW_KEYS, "task"]
    values = {"mean": cells[f"{column}_mean"] * 100, "std": cells[f"{column}_std"] * 100, "n": cells["n_seeds"]}
    tables = {name: _by_task(cells.assign(value=v), keys).sort_values(ROW_KEYS, ignore_index=True)
              for name, v in values.items()}
    for name in ("std", "n"):
        tables[name] = tables[name].drop(columns="average")
    return tables


def comparison_table(engine: Engine, sweep_id: int | None = None, selection: str = "peak") -> pd.DataFrame:
    """The mean table of `comparison_tables` (scores in percent, the average over tasks last)."""
    return comparison_tables(engine, sweep_id, selection)["mean"]


def _by_task(values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean `value` per row key and task, tasks as columns, plus the plain mean over the tasks
    (NaN while one is missing, as the paper averages all 13)."""
    table = values.groupby(keys, dropna=False)["value"].mean().unstack("task")
    table.columns.name = None
    table["average"] = table.mean(axis=1, skipna=False)
    return table.reset_index()


def chosen_and_replicas(engine: Engine, sweep_id: int) -> pd.DataFrame:
    """The `trial_summary` rows of each cell's chosen trial and its replicas (the trials that the
    tables average over seeds)."""
    trials = trials_frame(engine, sweep_id)
    if trials.empty:
        return trials
    chosen = best_trials(engine, sweep_id)[["cell_id", "trial_id", "lr"]]
    replica = trials.merge(chosen[["cell_id", "lr"]], on=["cell_id", "lr"])
    replica = replica[(replica["role"] == "replica") & replica["state"].isin(["complete", "stopped"])]["trial_id"]
    return trials[trials["trial_id"].isin(chosen["trial_id"]) | trials["trial_id"].isin(replica)]


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


def paper_table(engine: Engine, model: str | None = None) -> pd.DataFrame:
    """The paper's Table 1 in the shape of `comparison_table` (task scores: two-metric tasks averaged)."""
    ref = read_frame(engine, select(ReferenceResult.model, ReferenceResult.method, ReferenceResult.dropout,
                                ReferenceResult.task, ReferenceResult.metric, ReferenceResult.value)
                 .where(ReferenceResult.source == "paper_table1"))
    if model is not None:
        ref = ref[ref["model"] == model]
    if ref.empty:
        return pd.DataFrame(columns=[*ROW_KEYS, "average"])
    scores = _by_task(ref, ["model", "method", "dropout", "task"])
    scores.insert(2, "m", pd.array([128 if m == "superpos_prompt" else pd.NA for m in scores["method"]], "Int64"))
    scores.insert(3, "options", "")
    scores["dropout"] = scores["dropout"].map({"on": True, "off": False})
    return scores.sort_values(ROW_KEYS, ignore_index=True)


def standardized_scores(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 ("standardized overall score") from a table shaped like `comparison_table`:
    each task's score is min-max scaled to 0..100 across the rows, then every row gets the mean and the
    population standard deviation over its tasks. Rows with a missing task are left out (the paper
    leaves ATTEMPT out for that reason)."""
    tasks = [c for c in table.columns if c not in (*ROW_KEYS, "average")]
    rows = table.dropna(subset=tasks).reset_index(drop=True)
    scores = rows[tasks].astype(float)
    spread = (scores.max() - scores.min()).replace(0, np.nan)
    scaled = ((scores - scores.min()) / spread * 100).fillna(0.0)
    return rows[ROW_KEYS].assign(standardized_mean=scaled.mean(axis=1), standardized_std=scaled.std(axis=1, ddof=0))
