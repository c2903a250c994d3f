"""A Ray Tune Searcher that owns one Optuna study (over the learning rate) per grid cell.

OptunaSearch cannot hold a grid (Tune refuses grid_search beside it), so this searcher walks the
cells itself: each `suggest` asks the next cell's study for a learning rate (Optuna's ask/tell API),
and each completed trial is told back to its study. Cells are visited round-robin, so every worker
stays busy across cells within one Tuner run.
"""

from __future__ import annotations

import pickle
from typing import Any

import optuna
from ray.tune.search import Searcher

from orchestrator.plan import Cell, trial_config
from orchestrator.spec import SweepSpec

OBJECTIVE = "peak/score"  # the best validation task score so far, reported every epoch


class CellSearcher(Searcher):
    def __init__(self, spec: SweepSpec, cells: list[Cell], cell_ids: dict[str, int],
                 history: dict[str, list[dict]] | None = None):
        """`history` (a resume): each cell's earlier trials, told to its study first; finished ones
        count against the cell's budget, failed ones are tried again."""
        super().__init__(metric=OBJECTIVE, mode="max")
        self.spec, self.cells, self.cell_ids = spec, cells, cell_ids
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.studies = {
            cell.key: optuna.create_study(
                direction="maximize",
                sampler=optuna.samplers.TPESampler(seed=spec.optuna.sampler_seed + i),
                study_name=cell.key,
            )
            for i, cell in enumerate(cells)
        }
        self.asked = {cell.key: 0 for cell in cells}
        for cell in cells:
            for past in (history or {}).get(cell.key, []):
                self.asked[cell.key] += self._tell_past(cell, past)
        self.live: dict[str, tuple[str, optuna.trial.Trial]] = {}
        self._next = 0

    def _distribution(self, cell: Cell) -> optuna.distributions.FloatDistribution:
        low, high = self.spec.optuna.lr_range(cell.method)
        return optuna.distributions.FloatDistribution(low, high, log=True)

    def _tell_past(self, cell: Cell, past: dict) -> int:
        """Add a stored trial to the cell's study; 1 if it counts as done."""
        done = past["state"] in ("complete", "stopped") and past["objective"] is not None
        self.studies[cell.key].add_trial(optuna.trial.create_trial(
            params={"lr": past["lr"]}, distributions={"lr": self._distribution(cell)},
            value=past["objective"] if done else None,
            state=optuna.trial.TrialState.COMPLETE if done else optuna.trial.TrialState.FAIL,
        ))
        return int(done)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # the objective is fixed; the space lives in the studies

    def _next_cell(self) -> Cell | None:
        budget = self.spec.optuna.trials_per_cell
        for _ in range(len(self.cells)):
            cell = self.cells[self._next % len(self.cells)]
            self._next += 1
            if self.asked[cell.key] < budget:
                return cell
        return None

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        cell = self._next_cell()
        if cell is None:
            return Searcher.FINISHED
        otrial = self.studies[cell.key].ask({"lr": self._distribution(cell)})
        self.asked[cell.key] += 1
        self.live[trial_id] = (cell.key, otrial)
        return {
            "cell_key": cell.key,
            "cell_id": self.cell_ids[cell.key],
            "number": otrial.number,
            "trial": trial_config(self.spec, cell, otrial.params["lr"]),
        }

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.live:
            return
        key, otrial = self.live.pop(trial_id)
        value = None if error or not result else result.get(OBJECTIVE)
        if value is None:
            self.studies[key].tell(otrial, state=optuna.trial.TrialState.FAIL)
        else:
            self.studies[key].tell(otrial, float(value))

    def save(self, checkpoint_path: str) -> None:
        """Tune checkpoints the searcher with the experiment, so a resumed sweep keeps its studies."""
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self.__dict__, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh))

    def total_trials(self) -> int:
        """Trials still to run (all of them, unless resuming)."""
        return sum(max(0, self.spec.optuna.trials_per_cell - self.asked[c.key]) for c in self.cells)
