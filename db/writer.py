"""The one writer of the results store. Every method is one transaction, and idempotent where a
resume or a retried report could call it twice."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from db.models import SWEEP_STATES, TRIAL_STATES, Artefact, Cell, Metric, Score, Snapshot, Sweep, Trial, now_ms
from workers.members import running_peaks

STORED_PREFIXES = ("train/", "val/", "test/", "time/", "pack/")  # metric keys kept per step
SELECTION_KEY = "val/score"  # the peak epoch is chosen on the validation task score
UPSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def stored_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric metrics of a report that the store keeps per step (keys under STORED_PREFIXES)."""
    return {key: value for key, value in metrics.items()
            if key.startswith(STORED_PREFIXES) and isinstance(value, (int, float)) and not isinstance(value, bool)}


def encode_value(value: float) -> tuple[float | None, str | None]:
    """(value, nonfinite kind): NaN and infinities are stored explicitly, never as a number."""
    value = float(value)
    if math.isnan(value):
        return None, "nan"
    if math.isinf(value):
        return None, "inf" if value > 0 else "-inf"
    return value, None


def _set_checkpoint(session: Session, trial_ids: list[int], path: str) -> None:
    if trial_ids:
        session.execute(update(Trial).where(Trial.id.in_(list(trial_ids))).values(checkpoint=path))


class ResultsWriter:
    def __init__(self, engine: Engine):
        if engine.dialect.name not in UPSERT:
            raise ValueError(f"unsupported database {engine.dialect.name!r}; use sqlite or postgresql")
        self.engine = engine
        self._insert = UPSERT[engine.dialect.name]

    def create_sweep(self, name: str, spec_text: str, spec_hash: str, provenance: Mapping[str, Any]) -> int:
        with Session(self.engine) as s, s.begin():
            sweep = Sweep(name=name, spec_text=spec_text, spec_hash=spec_hash, state="running",
                          created_ms=now_ms(), git_commit=provenance.get("git_commit"),
                          git_dirty=provenance.get("git_dirty"), hardware=provenance.get("hardware"),
                          versions=json.dumps(provenance.get("versions", {}), sort_keys=True),
                          inputs=json.dumps(provenance.get("inputs", {}), sort_keys=True))
            s.add(sweep)
            s.flush()
            return sweep.id

    def add_cells(self, sweep_id: int, cells: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Insert the grid's cells (dicts with key, method, task, model, m, dropout, seed); key -> id."""
        with Session(self.engine) as s, s.begin():
            existing = {c.key: c for c in s.scalars(select(Cell).where(Cell.sweep_id == sweep_id))}
            for cell in cells:
                if cell["key"] not in existing:
                    existing[cell["key"]] = Cell(sweep_id=sweep_id, **cell)
                    s.add(existing[cell["key"]])
            s.flush()
            return {key: c.id for key, c in existing.items()}

    def start_trial(self, cell_id: int, number: int, ray_trial_id: str | None, config: Mapping[str, Any],
                    lr: float, weight_decay: float | None, role: str = "search", continuing: bool = False,
                    replica_of: int | None = None) -> int:
        """The trial row for (cell, number), created once, then marked running. `replica_of`: a
        replica's chosen trial, by its number in the cell.

        A row belongs to one trial: another Ray trial may take it over only to continue it
        (`continuing`, a resume of an interrupted or failed trial at the same rate and seed)."""
        seed = config.get("seed")
        with Session(self.engine) as s, s.begin():
            trial = s.scalar(select(Trial).where(Trial.cell_id == cell_id, Trial.number == number))
            if trial is None:
                chosen = None if replica_of is None else s.scalar(
                    select(Trial.id).where(Trial.cell_id == cell_id, Trial.number == replica_of))
                trial = Trial(cell_id=cell_id, number=number, role=role, seed=seed, lr=lr, weight_decay=weight_decay,
                              replica_of=chosen,
                              batch_size=config.get("batch_size"), epochs=config.get("epochs"),
                              config=json.dumps(dict(config), sort_keys=True))
                s.add(trial)
            elif trial.ray_trial_id != ray_trial_id:
                same = (trial.lr, trial.seed, trial.role) == (lr, seed, role)
                if not (continuing and same and trial.state in ("interrupted", "failed")):
                    raise ValueError(f"trial row {trial.id} (cell {cell_id}, number {number}) belongs to Ray trial "
                                     f"{trial.ray_trial_id} ({trial.state}); Ray trial {ray_trial_id} may not write it")
            trial.ray_trial_id, trial.state, trial.started_ms, trial.finished_ms = ray_trial_id, "running", now_ms(), None
            s.flush()
            return trial.id

    def record_failure(self, trial_ids: list[int], error: str) -> None:
        """One failed attempt of the trials that ran it (a pack's members fail together): each counted
        against its retries, its error kept (the latest), all in one transaction (a driver killed
        midway leaves none of them counted, not some)."""
        with Session(self.engine) as s, s.begin():
            for trial_id in trial_ids:
                trial = s.get(Trial, trial_id)
                if trial is None:
                    raise ValueError(f"no trial row {trial_id}: a failure can be recorded only on a started trial")
                trial.failures, trial.error = (trial.failures or 0) + 1, error

    def set_checkpoint(self, trial_ids: list[int], path: str) -> None:
        """Where the trials' last epoch was checkpointed (a pack's members share one): a resume continues
        from there."""
        with Session(self.engine) as s, s.begin():
            _set_checkpoint(s, trial_ids, path)

    def log_metrics(self, trial_id: int, step: int, metrics: Mapping[str, Any],
                    checkpoint: tuple[list[int], str] | None = None) -> int:
        """Store the step's metrics under STORED_PREFIXES; a repeated (trial, key, step) updates in place.
        `checkpoint`: (trial ids, path) of the checkpoint taken after this step, set in the same
        transaction, so a store never names a checkpoint whose epoch it lacks, nor the other way round."""
        return self.log_epoch(trial_id, step, metrics, checkpoint)

    def log_epoch(self, trial_id: int, step: int, metrics: Mapping[str, Any],
                  checkpoint: tuple[list[int], str] | None = None, snapshots: Mapping[str, Mapping[str, Any]] | None = None,
                  artefacts: Mapping[str, list[Mapping[str, Any]]] | None = None) -> int:
        """One epoch's report whole, in one transaction: its metrics, the checkpoint taken after it, its
        snapshots and its learned tensors (see `store_snapshots`, `store_artefacts`). A driver killed
        mid-report leaves all of it or none: a resume that continues after this epoch never lacks the
        peak prompt it reported (which no later epoch may send again). Returns the metric rows written."""
        with Session(self.engine) as s, s.begin():
            written = self._metrics(s, trial_id, {step: metrics}, checkpoint)
            self._snapshots(s, trial_id, step, snapshots or {})
            self._artefacts(s, trial_id, step, artefacts or {})
        return written

    def _upsert(self, session: Session, model: type, rows: list[dict], keys: list[str], update: list[str]) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE: a repeated report replaces its row."""
        for start in range(0, len(rows), 5000):  # stay under the drivers' bound-parameter limits
            stmt = self._insert(model).values(rows[start : start + 5000])
            session.execute(stmt.on_conflict_do_update(
                index_elements=keys, set_={col: stmt.excluded[col] for col in update}))

    def log_history(self, trial_id: int, steps: Mapping[int, Mapping[str, Any]],
                    checkpoint: tuple[list[int], str] | None = None) -> int:
        """Many steps of one trial in one transaction (bulk loads, benchmarks), with the checkpoint taken
        after them (see `log_metrics`)."""
        with Session(self.engine) as s, s.begin():
            return self._metrics(s, trial_id, steps, checkpoint)

    def _metrics(self, session: Session, trial_id: int, steps: Mapping[int, Mapping[str, Any]],
                 checkpoint: tuple[list[int], str] | None) -> int:
        rows = [
            {"trial_id": trial_id, "key": key, "step": step, **dict(zip(("value", "nonfinite"), encode_value(value)))}
            for step, metrics in steps.items()
            for key, value in stored_metrics(metrics).items()
        ]
        if rows:
            self._upsert(session, Metric, rows, ["trial_id", "key", "step"], ["value", "nonfinite"])
        if checkpoint:
            _set_checkpoint(session, *checkpoint)
        return len(rows)

    def store_snapshots(self, trial_id: int, step: int, tensors: Mapping[str, Mapping[str, Any]]) -> None:
        """{name: {shape, dtype, values}} (workers.member.Member.snapshot); a repeat replaces the same (trial, name, step)."""
        with Session(self.engine) as s, s.begin():
            self._snapshots(s, trial_id, step, tensors)

    def _snapshots(self, session: Session, trial_id: int, step: int, tensors: Mapping[str, Mapping[str, Any]]) -> None:
        rows = [{"trial_id": trial_id, "name": name, "step": step, "shape": json.dumps(t["shape"]),
                 "dtype": t["dtype"], "values": json.dumps(t["values"])} for name, t in tensors.items()]
        if rows:
            self._upsert(session, Snapshot, rows, ["trial_id", "name", "step"], ["shape", "dtype", "values"])

    def store_artefacts(self, trial_id: int, epoch: int, artefacts: Mapping[str, list[Mapping[str, Any]]]) -> int:
        """{selection: [{name, shape, dtype, data}]} (workers/artefacts.py), from the report of `epoch`: each
        selection sent replaces that selection's rows of the trial (its final prompt each epoch, its peak
        set when the peak moved), in one transaction. Returns the rows written."""
        with Session(self.engine) as s, s.begin():
            return self._artefacts(s, trial_id, epoch, artefacts)

    def _artefacts(self, session: Session, trial_id: int, epoch: int,
                   artefacts: Mapping[str, list[Mapping[str, Any]]]) -> int:
        rows = [{"trial_id": trial_id, "name": a["name"], "selection": selection, "epoch": epoch,
                 "shape": json.dumps(list(a["shape"])), "dtype": a["dtype"], "sha256": hashlib.sha256(a["data"]).hexdigest(),
                 "bytes": len(a["data"]), "data": a["data"], "created_ms": now_ms()}
                for selection, items in artefacts.items() for a in items]
        if rows:
            session.execute(delete(Artefact).where(Artefact.trial_id == trial_id,
                                                   Artefact.selection.in_(list(artefacts))))
            session.execute(insert(Artefact), rows)
        return len(rows)

    def finish_trial(self, trial_id: int, state: str, error: str | None = None,
                     trainable_parameters: int | None = None) -> None:
        """Close the trial and derive its scores from its stored metrics, in one transaction:
        'peak' = every split's metrics at the epoch of the best validation score, 'final' = last epoch.
        `error`: the attempt that ended it failed; counted against its retries and kept, in the same
        transaction (a driver killed in between cannot count a failure on a trial it leaves open)."""
        if state not in TRIAL_STATES:
            raise ValueError(f"trial state must be one of {', '.join(TRIAL_STATES)}, got {state!r}")
        with Session(self.engine) as s, s.begin():
            trial = s.get(Trial, trial_id)
            trial.state, trial.finished_ms = state, now_ms()
            if error is not None:  # a trial that recovered (a retry, a resume) keeps its last error
                trial.failures, trial.error = (trial.failures or 0) + 1, error
            if trainable_parameters is not None:
                trial.trainable_parameters = trainable_parameters
            metrics = s.scalars(select(Metric).where(Metric.trial_id == trial_id)).all()
            by_step: dict[int, dict[str, float | None]] = {}
            for m in metrics:
                by_step.setdefault(m.step, {})[m.key] = m.value
            selectable = {step: v[SELECTION_KEY] for step, v in by_step.items() if v.get(SELECTION_KEY) is not None}
            if not selectable:
                return
            peak, trial.objective = running_peaks(selectable)[max(selectable)]
            s.execute(delete(Score).where(Score.trial_id == trial_id))
            for selection, step in (("peak", peak), ("final", max(by_step))):
                for key, value in by_step[step].items():
                    split, _, metric = key.partition("/")
                    if split in ("val", "test"):
                        s.add(Score(trial_id=trial_id, split=split, metric=metric, selection=selection,
                                    epoch=step, value=value))

    def set_blocked(self, cell_id: int, reason: str | None) -> None:
        """Why a cell never ran (a source cell of its sweep ended without a chosen trial); None clears it."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(Cell).where(Cell.id == cell_id).values(blocked=reason))

    def set_run(self, sweep_id: int, **values: Any) -> None:
        """What a run of the sweep set out to do and where it runs (planned_trials, driver, job_id,
        job_address, hardware)."""
        allowed = {"planned_trials", "driver", "job_id", "job_address", "hardware"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown sweep run field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
        with Session(self.engine) as s, s.begin():
            sweep = s.get(Sweep, sweep_id)
            for key, value in values.items():
                setattr(sweep, key, value)

    def reopen_sweep(self, sweep_id: int) -> None:
        """Before a resume: the sweep runs again, and trials a hard crash left 'running' are interrupted."""
        with Session(self.engine) as s, s.begin():
            sweep = s.get(Sweep, sweep_id)
            if sweep is None:
                raise ValueError(f"no sweep {sweep_id} in this database; `superpos sweep list` shows the sweeps")
            sweep.state, sweep.finished_ms = "running", None
            self._close_unfinished(s, sweep_id)

    @staticmethod
    def _close_unfinished(s: Session, sweep_id: int) -> None:
        """Trials the sweep left running did not fail: they were interrupted, and a resume continues them."""
        left = s.scalars(select(Trial).join(Cell).where(Cell.sweep_id == sweep_id,
                                                        Trial.state == "running"))
        for trial in left:
            trial.state, trial.finished_ms = "interrupted", now_ms()

    def finish_sweep(self, sweep_id: int, state: str) -> None:
        """Close the sweep; trials it left running (Ctrl-C, a cancel) are marked interrupted."""
        if state not in SWEEP_STATES:
            raise ValueError(f"sweep state must be one of {', '.join(SWEEP_STATES)}, got {state!r}")
        with Session(self.engine) as s, s.begin():
            sweep = s.get(Sweep, sweep_id)
            sweep.state, sweep.finished_ms = state, now_ms()
            self._close_unfinished(s, sweep_id)
