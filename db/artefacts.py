"""Reading the learned prompts back (the `artefacts` table, written by db/writer.py): which trials
have which tensors, one tensor as a numpy array, and the trial a cell reports (its chosen trial, or
the replica with a given seed). Reads safetensors with numpy: no torch needed."""

from __future__ import annotations

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


def decode(data: bytes) -> np.ndarray:
    """One stored row's tensor (its `data`: a safetensors file holding it under TENSOR)."""
    from safetensors.numpy import load

    return load(bytes(data))[TENSOR]


def tensors(engine: Engine, trial_id: int, selection: str = "peak") -> dict[str, np.ndarray]:
    """{name: array} of one trial's stored tensors of one selection ('peak' or 'final')."""
    stmt = select(Artefact.name, Artefact.data).where(Artefact.trial_id == int(trial_id),
                                                      Artefact.selection == selection)
    with engine.connect() as conn:
        return {name: decode(data) for name, data in conn.execute(stmt)}


def row(engine: Engine, trial_id: int, name: str, selection: str) -> Mapping | None:
    """One artefact's stored row (with its data), or None."""
    stmt = select(Artefact.__table__).where(Artefact.trial_id == int(trial_id), Artefact.name == name,
                                            Artefact.selection == selection)
    with engine.connect() as conn:
        return conn.execute(stmt).mappings().first()


def prompts(engine: Engine, sweep_id: int, selection: str = "peak") -> pd.DataFrame:
    """The encoder prompt of each cell's reported trials (the chosen trial and its replicas) as numpy
    arrays (column `array`, shape (n, d_model)), with the cell values and seed; one query."""
    best = chosen_and_replicas(engine, sweep_id)
    keys = ["trial_id", *ROW_KEYS, "task", "seed"]
    if best.empty:
        return pd.DataFrame(columns=["trial_id", "epoch", "array", *keys[1:]])
    stmt = select(Artefact.trial_id, Artefact.epoch, Artefact.data).where(
        Artefact.name == "prompt", Artefact.selection == selection,
        Artefact.trial_id.in_([int(t) for t in best["trial_id"]]))
    with engine.connect() as conn:
        rows = [{"trial_id": t, "epoch": e, "array": decode(d)} for t, e, d in conn.execute(stmt)]
    return pd.DataFrame(rows, columns=["trial_id", "epoch", "array"]).merge(best[keys], on="trial_id")
