"""What matters across the grid: per task, how much of the reported score each grid dimension explains.

For each task of a sweep, an in-memory Optuna study is built from the store: one trial per finished
trial (complete or stopped early) of that task, its parameters the dimensions that vary within the
task (method, every method option such as m, dropout, and the learning rate; an option a method does
not have is "none"), its value the trial's reported score at the peak epoch (validation under the
paper's protocol). Scores are compared within a task only: raw scores across tasks would mostly
measure the task. Optuna's fANOVA evaluator (seeded) splits the variance of the score among the
dimensions; the importances of a task sum to 1. Few trials make the split noisy: the `trials`
column says how many it rests on.
"""

from __future__ import annotations

import json

import optuna
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from db import queries
from db.models import FINISHED_TRIAL_STATES

NONE = "none"  # an option the trial's method does not have


def _trials(engine: Engine, sweep_id: int) -> pd.DataFrame:
    trials = queries.trials_frame(engine, sweep_id)
    if trials.empty:
        return trials
    raw = queries.read_frame(engine, text("SELECT id AS cell_id, options AS raw_options FROM cells "
                                          "WHERE sweep_id = :sweep_id"), sweep_id=sweep_id)
    trials = trials.merge(raw, on="cell_id")
    return trials[trials["state"].isin(FINISHED_TRIAL_STATES) & trials["reported_score"].notna()]


def _dimensions(rows: pd.DataFrame) -> tuple[list[dict], dict[str, optuna.distributions.BaseDistribution]]:
    """Each trial's parameters and the distributions of the dimensions that vary in `rows`."""
    options = [json.loads(o or "{}") for o in rows["raw_options"]]
    names = sorted({k for o in options for k in o})
    params = [{"method": r.method, "dropout": "on" if r.dropout else "off", "lr": float(r.lr),
               **{f"{n}": json.dumps(o[n]) if n in o else NONE for n in names}}
              for r, o in zip(rows.itertuples(), options)]
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    for name in ["method", *names, "dropout"]:
        values = sorted({p[name] for p in params})
        if len(values) > 1:
            distributions[name] = optuna.distributions.CategoricalDistribution(values)
    rates = [p["lr"] for p in params]
    if len(set(rates)) > 1:
        distributions["lr"] = optuna.distributions.FloatDistribution(min(rates), max(rates), log=True)
    return [{k: p[k] for k in distributions} for p in params], distributions


def task_study(engine: Engine, sweep_id: int, task: str) -> optuna.Study | None:
    """The task's finished trials as one Optuna study (None when fewer than two, or nothing varies)."""
    rows = _trials(engine, sweep_id)
    rows = rows[rows["task"] == task] if not rows.empty else rows
    if len(rows) < 2:
        return None
    params, distributions = _dimensions(rows)
    if not distributions:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name=f"sweep {sweep_id} {task}")
    for p, score in zip(params, rows["reported_score"]):
        study.add_trial(optuna.trial.create_trial(params=p, distributions=distributions, value=float(score) * 100))
    return study


def per_task(engine: Engine, sweep_id: int) -> pd.DataFrame:
    """(task, param, importance, trials): fANOVA importances per task, largest first within a task."""
    rows = []
    tasks = _trials(engine, sweep_id)
    for task in sorted(set(tasks["task"])) if not tasks.empty else []:
        study = task_study(engine, sweep_id, task)
        if study is None:
            continue
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        rows += [{"task": task, "param": k, "importance": float(v), "trials": len(study.trials)}
                 for k, v in found.items()]
    return pd.DataFrame(rows, columns=["task", "param", "importance", "trials"])
