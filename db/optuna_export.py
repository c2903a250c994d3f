"""A sweep's studies as Optuna studies in an Optuna storage of their own (`superpos export optuna`), so
optuna-dashboard and Optuna's API open them unchanged.

One study per cell, named by the cell's key, holding its search trials in number order: the
learning rate as `lr` (log-uniform over the rates the cell tried), the value the trial's objective
(its peak validation score), each epoch's validation score as an intermediate value; complete
trials are COMPLETE, those early stopping ended PRUNED (with their peak so far), failed ones FAIL,
interrupted ones are left out. (Optuna's `best_trial` looks at COMPLETE trials only; the store's
chosen trial may be one that early stopping ended, by its peak.) User attributes keep the link to the store: trial id, number, seed,
state; the chosen trial also carries its replicas' reported scores. The file is Optuna's own
schema, never the results store (their tables would clash: `trials`, `alembic_version`).
"""

from __future__ import annotations

from pathlib import Path

import optuna
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from db import queries
from db.engine import SQLITE_MAGIC, sqlite_path

STATES = {"complete": optuna.trial.TrialState.COMPLETE, "stopped": optuna.trial.TrialState.PRUNED,
          "failed": optuna.trial.TrialState.FAIL}


def _check_file(out: str, path: Path) -> None:
    """An --out path that cannot hold an SQLite file is named before anything opens it: a folder, a
    folder that does not exist, a file that is not SQLite (left untouched)."""
    if path.is_dir():
        raise ValueError(f"--out {out} is a folder; give the Optuna storage a file inside it (e.g. {path / 'studies.db'})")
    if not path.parent.is_dir():
        raise ValueError(f"--out {out}: folder {path.parent} does not exist; create it or choose another path")
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as handle:
            if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:  # never the store (refused above): no lock of ours
                raise ValueError(f"--out {out} is a file that is not an SQLite database; it was left untouched: "
                                 "choose a new file for --out")


def _refuse_foreign(url: str, out: str) -> None:
    """A database that holds tables but not Optuna's is left untouched (Optuna would add its tables)."""
    engine = create_engine(url)
    try:
        names = set(inspect(engine).get_table_names())
    except DBAPIError as err:  # a damaged SQLite file, a server that does not answer
        reason = " ".join(str(err.orig).split())
        raise ValueError(f"--out {out} cannot be opened as an Optuna storage ({reason}); nothing was written to "
                         "it: choose a new file for --out, or a database server that answers") from None
    finally:
        engine.dispose()
    if names and ("version_info" not in names or "sweeps" in names):
        raise ValueError(f"{out} is a database of another kind (tables {', '.join(sorted(names)[:4])}, ...), not an "
                         "Optuna storage; it was left untouched: choose a new file for --out")


def export(engine: Engine, sweep_id: int, out: str, store_url: str) -> dict[str, int]:
    """Write every cell's study of `sweep_id` to the Optuna storage `out` (a path or a URL); returns
    {cell key: trials written}. Refuses the results store itself (`store_url`), a database that is not
    an Optuna storage, and a storage that already holds a study of the same name."""
    url = out if "://" in out else f"sqlite:///{Path(out).expanduser().resolve()}"
    if url == store_url or (sqlite_path(url) is not None and sqlite_path(url) == sqlite_path(store_url)):
        raise ValueError(f"{out} is the results store; give the Optuna studies a file of their own (--out)")
    if sqlite_path(url) is not None:
        _check_file(out, sqlite_path(url))
    trials = queries.trials_frame(engine, sweep_id)
    if trials.empty:
        raise ValueError(f"sweep {sweep_id} has no trials yet; nothing to export")
    curves = queries.read_frame(engine, text(
        "SELECT m.trial_id, m.step, m.value FROM metrics m JOIN trials t ON t.id = m.trial_id JOIN cells c ON "
        "c.id = t.cell_id WHERE c.sweep_id = :sweep_id AND m.key = 'val/score' AND m.value IS NOT NULL"),
        sweep_id=sweep_id)
    by_trial = {tid: dict(zip(g["step"].astype(int), g["value"])) for tid, g in curves.groupby("trial_id")}
    keys = queries.read_frame(engine, text("SELECT id AS cell_id, key FROM cells WHERE sweep_id = :sweep_id"),
                              sweep_id=sweep_id).set_index("cell_id")["key"]
    _refuse_foreign(url, out)
    storage = optuna.storages.RDBStorage(url)
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    clash = sorted(existing & set(keys))
    if clash:
        raise ValueError(f"{out} already holds a study named {clash[0]!r}; choose another --out")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    written = {}
    for cell_id, rows in trials.groupby("cell_id"):
        search = rows[(rows["role"] == "search") & rows["state"].isin(list(STATES))].sort_values("number")
        study = optuna.create_study(storage=storage, study_name=keys[cell_id], direction="maximize")
        if search.empty:
            written[keys[cell_id]] = 0
            continue
        rates = search["lr"].astype(float)
        lr = optuna.distributions.FloatDistribution(rates.min(), rates.max(), log=True)
        replicas = rows[(rows["role"] == "replica") & rows["reported_score"].notna()]
        for row in search.itertuples():
            state = STATES[row.state]
            value = None if state == optuna.trial.TrialState.FAIL or row.objective != row.objective else row.objective
            attrs = {"trial_id": int(row.trial_id), "number": int(row.number), "seed": int(row.seed),
                     "state": row.state}
            chosen = replicas[replicas["replica_of"] == row.trial_id]
            if len(chosen):
                attrs["replica_scores"] = {int(r.seed): float(r.reported_score) for r in chosen.itertuples()}
            study.add_trial(optuna.trial.create_trial(
                params={"lr": float(row.lr)}, distributions={"lr": lr}, state=state,
                value=None if value is None else float(value), user_attrs=attrs,
                intermediate_values=by_trial.get(row.trial_id, {}) if value is not None else {}))
        written[keys[cell_id]] = len(search)
    return written
