"""Reading the learned prompts back (the `artefacts` table, written by db/writer.py): which trials
have which tensors, one tensor as a numpy array, and the trial a cell reports (its chosen trial, or
the replica with a given seed). Reads safetensors with numpy: no torch needed."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from db.models import Artefact
from db.queries import ROW_KEYS, chosen_and_replicas, read_frame

COLUMNS = ["trial_id", "selection", "name", "epoch", "shape", "dtype", "bytes", "sha256"]
TENSOR = "tensor"  # the key of the tensor inside each row's safetensors file (workers/artefacts.py)


def listing(engine: Engine, sweep_id: int | None = None, trial_id: int | None = None) -> pd.DataFrame:
    """One row per stored tensor (no data): trial, selection, name, epoch, shape, dtype, bytes, sha256,
    with the trial's cell values, seed, role and state."""
    where, params = [], {}
    if sweep_id is not None:
        where.append("c.sweep_id = :sweep_id")
        params["sweep_id"] = int(sweep_id)
    if trial_id is not None:
        where.append("a.trial_id = :trial_id")
        params["trial_id"] = int(trial_id)
    stmt = text(
        "SELECT a.trial_id, a.selection, a.name, a.epoch, a.shape, a.dtype, a.bytes, a.sha256, c.sweep_id, "
        "c.model, c.method, c.m, c.options, c.dropout, c.task, t.seed, t.role, t.state "
        "FROM artefacts a JOIN trials t ON t.id = a.trial_id JOIN cells c ON c.id = t.cell_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY a.trial_id, a.selection, a.name")
    return read_frame(engine, stmt, **params)


def tensors(engine: Engine, trial_id: int, selection: str = "peak") -> dict[str, np.ndarray]:
    """{name: array} of one trial's stored tensors of one selection ('peak' or 'final')."""
    from safetensors.numpy import load

    stmt = select(Artefact.name, Artefact.data).where(Artefact.trial_id == int(trial_id),
                                                      Artefact.selection == selection)
    with engine.connect() as conn:
        return {name: load(bytes(data))[TENSOR] for name, data in conn.execute(stmt)}


def row(engine: Engine, trial_id: int, name: str, selection: str) -> Mapping | None:
    """One artefact's stored row (with its data), or None."""
    stmt = select(Artefact.__table__).where(Artefact.trial_id == int(trial_id), Artefact.name == name,
                                            Artefact.selection == selection)
    with engine.connect() as conn:
        return conn.execute(stmt).mappings().first()


def prompts(engine: Engine, sweep_id: int, selection: str = "peak") -> pd.DataFrame:
    """The encoder prompt of each cell's reported trials (the chosen trial and its replicas) as numpy
    arrays (column `array`, shape (n, d_model)), with the cell values and seed."""
    best = chosen_and_replicas(engine, sweep_id)
    out = [{"trial_id": int(t), "epoch": None, "array": None} for t in best["trial_id"]] if not best.empty else []
    for item in out:
        stored = row(engine, item["trial_id"], "prompt", selection)
        if stored is not None:
            from safetensors.numpy import load

            item.update(epoch=stored["epoch"], array=load(bytes(stored["data"]))[TENSOR])
    frame = pd.DataFrame([o for o in out if o["array"] is not None], columns=["trial_id", "epoch", "array"])
    if best.empty:
        return frame.assign(**{k: [] for k in [*ROW_KEYS, "task", "seed"]})
    return frame.merge(best[["trial_id", *ROW_KEYS, "task", "seed"]], on="trial_id")


def shape_of(stored: Mapping) -> tuple[int, ...]:
    return tuple(json.loads(stored["shape"]))
