"""What matters across the grid: per task, how much of the reported score each grid dimension explains.

For each task of a sweep, in-memory Optuna studies are built from the store, one trial per finished
trial (complete or stopped early) of that task, its value the trial's reported score at the peak
epoch (validation under the paper's protocol). Scores are compared within a task only: raw scores
across tasks would mostly measure the task. Optuna's fANOVA evaluator (seeded) splits the variance of
the score among the dimensions of a study; the importances of a study sum to 1. Few trials make the
split noisy: the `trials` column says how many it rests on.

Each task has up to one study per scope:
- `all`: every trial of the task, over the dimensions every method has: method, model, dropout and
  the learning rate (those that vary; a sweep over two models without `model` left the larger
  model's lead unexplained, for fANOVA to pin on the others);
- a method's name: that method's trials alone, over its options (such as SuperPos's m), model,
  dropout and the learning rate, where some option of that method varies in the task.
A method option is not a dimension of `all`: it exists for one method only, so its value (or its
absence) names the method, and fANOVA would split the method's effect between the two at will (a
sweep whose m had no effect at all gave m 22% of the score's variance with two values of m, 48% with
one). Within its method, an option is compared with the method held fixed.
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
SHARED = {"method", "model", "dropout", "lr"}  # the dimensions every method has (scope `all`)


def _trials(engine: Engine, sweep_id: int) -> pd.DataFrame:
    trials = queries.trials_frame(engine, sweep_id)
    if trials.empty:
        return trials
    raw = queries.read_frame(engine, text("SELECT id AS cell_id, options AS raw_options FROM cells "
                                          "WHERE sweep_id = :sweep_id"), sweep_id=sweep_id)
    trials = trials.merge(raw, on="cell_id")
    return trials[trials["state"].isin(FINISHED_TRIAL_STATES) & trials["reported_score"].notna()]


def _dimensions(rows: pd.DataFrame, options: bool) -> tuple[list[dict], dict[str, optuna.distributions.BaseDistribution]]:
    """Each trial's parameters and the distributions of the dimensions that vary in `rows`: method,
    model, dropout and lr, and with `options` the method options (one method's trials: an option it
    lacks never shows)."""
    found = [json.loads(o or "{}") for o in rows["raw_options"]] if options else [{} for _ in range(len(rows))]
    names = sorted({k for o in found for k in o})
    params = [{"method": r.method, "model": r.model, "dropout": "on" if r.dropout else "off", "lr": float(r.lr),
               **{n: json.dumps(o[n]) if n in o else NONE for n in names}}
              for r, o in zip(rows.itertuples(), found)]
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    for name in ["method", "model", *names, "dropout"]:
        values = sorted({p[name] for p in params})
        if len(values) > 1:
            distributions[name] = optuna.distributions.CategoricalDistribution(values)
    rates = [p["lr"] for p in params]
    if len(set(rates)) > 1:
        distributions["lr"] = optuna.distributions.FloatDistribution(min(rates), max(rates), log=True)
    return [{k: p[k] for k in distributions} for p in params], distributions


def _study(rows: pd.DataFrame, name: str, options: bool) -> optuna.Study | None:
    """`rows` as one Optuna study (None when fewer than two trials, or nothing varies)."""
    if len(rows) < 2:
        return None
    params, distributions = _dimensions(rows, options)
    if not distributions:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name=name)
    for p, score in zip(params, rows["reported_score"]):
        study.add_trial(optuna.trial.create_trial(params=p, distributions=distributions, value=float(score) * 100))
    return study


def task_study(engine: Engine, sweep_id: int, task: str) -> optuna.Study | None:
    """The task's finished trials as one Optuna study over every dimension, method options included
    ("none" where a method lacks one): what Optuna's plots draw (the parallel coordinates)."""
    rows = _trials(engine, sweep_id)
    rows = rows[rows["task"] == task] if not rows.empty else rows
    return _study(rows, f"sweep {sweep_id} {task}", options=True)


def _scopes(rows: pd.DataFrame, sweep_id: int, task: str) -> list[tuple[str, optuna.Study]]:
    """(scope, study) of one task: `all` without method options, then each method whose options vary."""
    found = [("all", _study(rows, f"sweep {sweep_id} {task}", options=False))]
    for method, own in rows.groupby("method", sort=True):
        study = _study(own, f"sweep {sweep_id} {task} {method}", options=True)
        if study is not None and set(study.trials[0].distributions) - SHARED:
            found.append((str(method), study))
    return [(scope, study) for scope, study in found if study is not None]


def _task_scopes(engine: Engine, sweep_id: int):
    """(task, scope, study) of every task of the sweep, tasks in order."""
    trials = _trials(engine, sweep_id)
    for task in sorted(set(trials["task"])) if not trials.empty else []:
        for scope, study in _scopes(trials[trials["task"] == task], sweep_id, task):
            yield task, scope, study


def _same_score(study: optuna.Study) -> bool:
    """Every trial scored the same: no variance to split (fANOVA raised "Encountered zero total variance
    in all trees", as on a task that a small model answers with one label whatever it is trained at)."""
    return len({t.value for t in study.trials}) == 1


def importances(engine: Engine, sweep_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables of a sweep from one read of the store: per_task's shares, and same_scores' scopes
    (task, scope, score, trials) whose trials all scored `score` (in %), where no dimension explains anything."""
    shares, same = [], []
    for task, scope, study in _task_scopes(engine, sweep_id):
        if _same_score(study):
            same.append({"task": task, "scope": scope, "score": study.trials[0].value, "trials": len(study.trials)})
            continue
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        shares += [{"task": task, "scope": scope, "param": k, "importance": float(v), "trials": len(study.trials)}
                   for k, v in found.items()]
    return (pd.DataFrame(shares, columns=["task", "scope", "param", "importance", "trials"]),
            pd.DataFrame(same, columns=["task", "scope", "score", "trials"]))


def per_task(engine: Engine, sweep_id: int) -> pd.DataFrame:
    """(task, scope, param, importance, trials): fANOVA importances per task and scope (`all`, or the
    method whose trials alone a study compares), largest first within each; a scope whose trials all
    scored the same is left out (`same_scores` lists them)."""
    return importances(engine, sweep_id)[0]


def same_scores(engine: Engine, sweep_id: int) -> pd.DataFrame:
    """(task, scope, score, trials): the scopes that per_task leaves out, whose trials all scored `score`
    (in %): no grid dimension explains anything there."""
    return importances(engine, sweep_id)[1]
