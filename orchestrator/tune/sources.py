"""ATTEMPT's source prompts, bound to its cells before a sweep starts (spec.sources).

For each cell of a method that mixes source prompts, each source task's published prompt is looked
up in the store: the chosen trial of the source sweep's cell (spec.sources.method, that task, the
same model, the dropout setting spec.sources names or the cell's own), at its peak epoch. The
prompt's sha256 joins the cell's options (so other sources make other cells, and a resume finds the
same cells), and its bytes are written once, content-addressed, under the run's storage folder,
where every trial reads it (plan.source_file). Every problem is found before anything runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from sqlalchemy.engine import Engine

from db import artefacts, queries
from orchestrator.spec import SpecError, SweepSpec
from orchestrator.spec.plan import SOURCE_SHA256, Cell, readable_key, source_file
from workers.methods import METHOD_CONFIGS, get_method_config


def source_sweep(engine: Engine, spec: SweepSpec, before: int | None = None) -> int:
    """The id of spec.sources.sweep (an id, or the newest sweep of that name), earlier than the sweep
    `before` when one resumes (its sources were bound when it started)."""
    wanted = spec.sources.sweep
    sweeps = queries.list_sweeps(engine)
    if before is not None:
        sweeps = sweeps[sweeps["id"] < before]
    found = sweeps[sweeps["id"] == wanted] if isinstance(wanted, int) else sweeps[sweeps["name"] == wanted]
    if found.empty:
        raise SpecError(f"spec.sources.sweep: no sweep {wanted!r} in this store; `superpos sweep list` shows the "
                        "sweeps")
    return int(found["id"].max())


def _published(engine: Engine, spec: SweepSpec, sweep_id: int) -> dict[tuple[str, str, bool], dict]:
    """(task, model, dropout) -> the chosen trial's row of the source sweep's cells of spec.sources.method."""
    source = spec.sources
    best = queries.best_trials(engine, sweep_id)
    best = best[best["method"] == source.method]
    return {(r.task, r.model, bool(r.dropout)): r._asdict() for r in best.itertuples(index=False)}


def _pick(published: dict, task: str, model: str, dropout: bool, spec: SweepSpec, sweep_id: int) -> dict:
    wanted = spec.sources.dropout
    options = [d for (t, mdl, d) in published if t == task and mdl == model]
    where = f"spec.sources: sweep {sweep_id} has"
    if not options:
        have = sorted({f"{t} on {mdl}" for (t, mdl, _) in published}) or ["none"]
        raise SpecError(f"{where} no {spec.sources.method} cell with a chosen trial for {task} on {model} (its "
                        f"cells with one: {', '.join(have)}); train it there first, or choose another sweep")
    if wanted is not None:
        if wanted not in options:
            raise SpecError(f"{where} {task} on {model} only with dropout {', '.join('on' if d else 'off' for d in options)}; "
                            "set spec.sources.dropout to match it")
        return published[(task, model, wanted)]
    if dropout in options:
        return published[(task, model, dropout)]
    if len(options) == 1:
        return published[(task, model, options[0])]
    raise SpecError(f"{where} {task} on {model} with dropout on and off: choose one with spec.sources.dropout")


def _publish(spec: SweepSpec, stored) -> None:
    """The prompt's file where the sweep's trials read it (content-addressed: written once). Written
    to a temporary file and renamed into place, so a driver killed mid-write leaves no truncated file
    under the prompt's name; a file there that differs from the stored bytes (one an older version
    left half-written) is written again."""
    path, data = Path(source_file(spec, stored["sha256"])), bytes(stored["data"])
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def bind(spec: SweepSpec, cells: list[Cell], engine: Engine, resume: int | None = None,
         publish: bool = True) -> list[Cell]:
    """`cells` with each source-mixing cell's sources pinned (their sha256 in its options); writes the
    prompts' files (`publish`; off: only checks, as `sweep validate` does). Cells of other methods come
    back unchanged. `resume`: the sweep being resumed."""
    if spec.sources is None or spec.staged:  # staged: bound while the sweep runs (StagedSources)
        return cells
    sweep_id = source_sweep(engine, spec, before=resume)
    published = _published(engine, spec, sweep_id)
    bound = []
    for cell in cells:
        if not METHOD_CONFIGS[cell.method].needs_sources:
            bound.append(cell)
            continue
        config = get_method_config(cell.method, {**spec.method_params.get(cell.method, {}), **dict(cell.options)})
        pins = []
        for task in config.sources:
            chosen = _pick(published, task, cell.model, cell.dropout, spec, sweep_id)
            stored = artefacts.row(engine, int(chosen["trial_id"]), "prompt", "peak")
            if stored is None:
                raise SpecError(f"spec.sources: the chosen trial {chosen['trial_id']} of {task} in sweep "
                                f"{sweep_id} has no stored prompt (a superpos from before prompts were stored "
                                f"ran it); train the source prompts again: a sweep of {spec.sources.method} on "
                                f"{task}, named in spec.sources.sweep, or sources: {{sweep: this}} to train them "
                                "in this sweep")
            shape = tuple(json.loads(stored["shape"]))
            if shape[0] != config.n_tokens:
                raise SpecError(f"spec.sources: the {task} prompt of sweep {sweep_id} has {shape[0]} tokens, "
                                f"but method_params.{cell.method}.n_tokens is {config.n_tokens}; they must match")
            if publish:
                _publish(spec, stored)
            pins.append((task, stored["sha256"]))
        options = dict(cell.options) | {SOURCE_SHA256: tuple(sorted(pins))}
        bound.append(replace(cell, options=tuple(sorted(options.items()))))
    return bound


class StagedSources:
    """A staged sweep's binding while it runs (the searcher asks when a waiting cell's source cells have
    each finished their search): each source cell's chosen trial's peak prompt, published as a file, and
    its sha256 for the consuming trials' configs; or why the cell is blocked, stored with the cell.
    Picklable (the searcher is saved with Tune's experiment state): the store opens when first needed."""

    def __init__(self, db_url: str, spec: SweepSpec):
        self.db_url, self.spec, self._engine = db_url, spec, None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_engine": None}

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from db.engine import open_store

            self._engine = open_store(self.db_url)
        return self._engine

    def pins(self, chosen: list[tuple[str, int, int]]) -> tuple[tuple[str, str], ...]:
        """`chosen`: (source task, its cell's id, the chosen trial's number) -> (task, sha256) pairs.
        ValueError (the reason to block) when a chosen trial stored no prompt."""
        from sqlalchemy import select

        from db.models import Trial

        pins = []
        for task, cell_id, number in chosen:
            with self.engine.connect() as conn:
                trial_id = conn.execute(select(Trial.id).where(Trial.cell_id == cell_id, Trial.number == number)).scalar()
            stored = artefacts.row(self.engine, trial_id, "prompt", "peak") if trial_id is not None else None
            if stored is None:
                raise ValueError(f"the chosen trial of its source {task} stored no prompt")
            _publish(self.spec, stored)
            pins.append((task, stored["sha256"]))
        return tuple(pins)

    def block(self, cell_id: int, reason: str | None) -> None:
        """Store why a cell never runs (None: it is no longer blocked)."""
        from db.writer import ResultsWriter

        ResultsWriter(self.engine).set_blocked(cell_id, reason)


def sources_dead(work) -> bool:
    """A staged cell's source cells have all finished their searches and one has no chosen trial: it
    never runs. `work`: the searcher's CellWork."""
    return bool(work.sources) and all(w.search_done() for _, w in work.sources) and any(
        w.chosen() is None for _, w in work.sources)


def ready(work, staged: StagedSources | None, notes: list[str]) -> bool:
    """A cell may run: it waits for no source, or its sources are bound now (each source cell has
    finished its search with a chosen trial: their peak prompts, through `staged`). A source cell
    without one blocks it (the reason goes to `notes` and the store)."""
    if not work.sources or work.pins:
        return True
    if work.blocked or not all(w.search_done() for _, w in work.sources):
        return False
    dead = [task for task, w in work.sources if w.chosen() is None]
    try:
        if dead:
            raise ValueError(f"its source cell{'s' if len(dead) > 1 else ''} for {', '.join(dead)} ended "
                             "without a chosen trial (every search trial failed)")
        work.pins = staged.pins([(task, w.cell_id, w.chosen().number) for task, w in work.sources])
    except ValueError as err:
        work.blocked = f"blocked: {err}"
        notes.append(f"{readable_key(work.cell.key)}: {work.blocked}")
    staged.block(work.cell_id, work.blocked)
    return work.blocked is None
