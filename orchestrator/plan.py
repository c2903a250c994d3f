"""Expand a sweep spec into grid cells: method x task x model x m x dropout x seed.

m is a dimension only for methods that have it (superpos_prompt); the others get one cell with
m = None. Each cell owns one Optuna study over the learning rate.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.spec import SweepSpec
from workers.methods import METHOD_CONFIGS


@dataclass(frozen=True)
class Cell:
    method: str
    task: str
    model: str
    m: int | None
    dropout: bool
    seed: int
    eval_protocol: str = "paper"  # one per sweep (spec.training), recorded with every cell
    eval_mode: str = "generate"

    @property
    def key(self) -> str:
        """Stable, readable id within a sweep (the database's unique key)."""
        m = "-" if self.m is None else self.m
        return f"{self.method}|{self.task}|{self.model}|m={m}|dropout={'on' if self.dropout else 'off'}|seed={self.seed}"

    def as_row(self) -> dict[str, Any]:
        return {"key": self.key, **asdict(self)}


def expand(spec: SweepSpec) -> list[Cell]:
    evaluation = {k: spec.training[k] for k in ("eval_protocol", "eval_mode") if k in spec.training}
    cells = []
    for method, task, model, dropout, seed in itertools.product(
        spec.methods, spec.tasks, spec.models, spec.dropout, spec.seeds
    ):
        for m in spec.m if METHOD_CONFIGS[method].has_m else (None,):
            cells.append(Cell(method, task, model, m, dropout, seed, **evaluation))
    return cells


def trial_config(spec: SweepSpec, cell: Cell, lr: float) -> dict[str, Any]:
    """The TrialConfig (as a dict) of one trial of `cell` at learning rate `lr`."""
    params = dict(spec.method_params.get(cell.method, {}))
    if cell.m is not None:
        params["m"] = cell.m
    return {**spec.training, "method": cell.method, "task": cell.task, "model": cell.model,
            "dropout": cell.dropout, "seed": cell.seed, "method_params": params, "lr": lr}
