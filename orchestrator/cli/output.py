"""`--format json`: one stable shape per command, for scripts and CI (the README's "Machine-readable
output" documents each). Numbers are plain JSON numbers; missing values (NaN, NA) are null; times
are ISO 8601 in UTC."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

FORMAT_HELP = "text (for people) or json (one stable shape, see the README's Machine-readable output)"
SHAPE_VERSION = 1  # bumped when a shape changes in a way that breaks a reader


def plain(value: Any) -> Any:
    """A value JSON can hold: NaN/NA -> None, numpy scalars -> Python, timestamps -> ISO strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    return [plain(dict(zip(frame.columns, row))) for row in frame.itertuples(index=False)]


def emit(command: str, body: dict) -> None:
    """Print one JSON document: {"command", "version", ...body}."""
    print(json.dumps({"command": command, "version": SHAPE_VERSION, **plain(body)}, indent=2, allow_nan=False))


def sweeps(frame: pd.DataFrame) -> dict:
    """`sweep list`: every sweep with its trial counts."""
    return {"sweeps": records(frame)}


def validate(path: str, spec, cells: list, counts: dict) -> dict:
    """`sweep validate` of a valid spec (an invalid one: {"valid": false, "problems": [...]})."""
    return {"spec": path, "valid": True, "name": spec.name, "counts": counts, "cells": [c.key for c in cells]}


def table(kind: str, source, against, selection: str, frame: pd.DataFrame, numbers: pd.DataFrame | None,
          long: pd.DataFrame | None) -> dict:
    """`table`: for kind main, one entry per cell and task (`long`, with whether it is a column's
    best) and each row's average; for standardized and versus, the table's rows."""
    body = {"kind": kind, "source": source, "against": against, "selection": selection}
    if kind != "main" or long is None or numbers is None:
        return {**body, "rows": records(frame)}
    keys = ["model", "method", "m", "options", "dropout"]
    best = numbers.attrs.get("best")
    flags = {}
    if best is not None:
        for i, row in numbers.iterrows():
            for task in best.columns:
                flags[(*[row[k] for k in keys], task)] = bool(best.at[i, task])
    cells = long.assign(options=long["options"].fillna(""))
    cells = cells.assign(best=[flags.get((*[r[k] for k in keys], r["task"]), False) for _, r in cells.iterrows()])
    averages = numbers[[*keys, "average", *(["seeds"] if "seeds" in numbers else [])]]
    return {**body, "cells": records(cells), "averages": records(averages)}
