"""Expand a sweep spec into grid cells: method x method options x task x model x dropout.

A method's options span the grid through `spec.method_grid` (m is folded in there for methods that
have it); the other methods get one cell per task, model and dropout. Seeds are not a dimension:
the first seed searches each cell's learning rate, the others replicate the chosen rate as more
trials of the same cell (orchestrator/tune/searcher.py).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchestrator.spec import SweepSpec
from workers.methods import METHOD_CONFIGS, get_method_config

SOURCE_SHA256 = "source_sha256"  # the option that pins a cell's source prompts (orchestrator/tune/sources.py)
_SHA256 = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{52}\b")


def readable_key(key: str) -> str:
    """A cell key as people read it (progress lines, `sweep status`, notes): each sha256 in it (an ATTEMPT
    cell's source prompts) cut to its first 12 hex digits and an ellipsis. The key itself (the store's,
    JSON output's) stays whole."""
    return _SHA256.sub("\\1…", key)


def source_file(spec: SweepSpec, sha256: str) -> str:
    """Where the trials of a sweep read the source prompt with this hash (under the run's storage folder,
    which every node sees)."""
    return str(Path(spec.ray.storage_path or "~/ray_results").expanduser() / "superpos-sources" / f"{sha256}.safetensors")


@dataclass(frozen=True)
class Cell:
    method: str
    task: str
    model: str
    options: tuple[tuple[str, Any], ...]  # the method options this cell fixes from the grid, sorted by name
    dropout: bool
    seed: int = 0  # the search seed (spec.seeds[0])
    eval_protocol: str = "paper"  # one per sweep (spec.training), recorded with every cell
    eval_mode: str = "generate"
    template: str = "reference"  # the task formats (workers/tasks.py TEMPLATES), recorded with every cell
    sources: tuple[tuple[str, str], ...] = ()  # (source task, key of the cell of this sweep that trains it): waits for them

    @property
    def m(self) -> int | None:
        return dict(self.options).get("m")

    @property
    def key(self) -> str:
        """Stable, readable id within a sweep (the database's unique key)."""
        opts = ",".join(f"{k}={json.dumps(v)}" for k, v in self.options) or "-"
        return f"{self.method}|{self.task}|{self.model}|{opts}|dropout={'on' if self.dropout else 'off'}"

    def as_row(self) -> dict[str, Any]:
        return {"key": self.key, "method": self.method, "task": self.task, "model": self.model, "m": self.m,
                "options": json.dumps(dict(self.options), sort_keys=True), "dropout": self.dropout,
                "seed": self.seed, "eval_protocol": self.eval_protocol, "eval_mode": self.eval_mode,
                "template": self.template, "sources": json.dumps([k for _, k in self.sources]) if self.sources else None}


def _option_sets(grid: dict[str, list]) -> list[tuple[tuple[str, Any], ...]]:
    names = sorted(grid)
    return [tuple(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def expand(spec: SweepSpec) -> list[Cell]:
    """Cells in a stable order: by method, its options, task, model, dropout (a source-mixing method's
    cells skip its own source tasks). In a staged sweep (spec.sources.sweep: this) each consuming cell
    names the cells of this sweep that train its sources."""
    evaluation = {k: spec.training[k] for k in ("eval_protocol", "eval_mode", "template") if k in spec.training}
    cells = []
    for method in spec.methods:
        for options in _option_sets(spec.method_grid.get(method, {})):
            for task, model, dropout in itertools.product(spec.tasks_for(method), spec.models, spec.dropout_for(method)):
                cells.append(Cell(method, task, model, options, dropout, spec.seeds[0], **evaluation))
    if not spec.staged:
        return cells
    producers = {(c.task, c.model, c.dropout): c.key for c in cells if c.method == spec.sources.method}
    staged = []
    for cell in cells:
        if METHOD_CONFIGS[cell.method].needs_sources:
            tasks = get_method_config(cell.method, {**spec.method_params.get(cell.method, {}), **dict(cell.options)}).sources
            setting = cell.dropout if spec.sources.dropout is None else spec.sources.dropout
            cell = replace(cell, sources=tuple((t, producers[(t, cell.model, setting)]) for t in tasks))
        staged.append(cell)
    return staged


def trial_config(spec: SweepSpec, cell: Cell, lr: float, seed: int | None = None,
                 pins: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """The TrialConfig (as a dict) of one trial of `cell` at learning rate `lr` (and seed). `pins`: in
    a staged sweep, the (task, sha256) of the source prompts bound to the cell when its sources finished."""
    params = {**spec.method_params.get(cell.method, {}), **dict(cell.options)}
    if pins:
        params[SOURCE_SHA256] = tuple(pins)
    weight_decay = get_method_config(cell.method, {**params, "lr": lr}).weight_decay  # stored with the trial
    sources = {task: source_file(spec, sha) for task, sha in params.get(SOURCE_SHA256, ())}
    return {**spec.training, "method": cell.method, "task": cell.task, "model": cell.model,
            "dropout": cell.dropout, "seed": cell.seed if seed is None else seed, "method_params": params, "lr": lr,
            "weight_decay": weight_decay, **({"source_prompts": sources} if sources else {})}
