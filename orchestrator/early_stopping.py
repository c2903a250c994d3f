"""Early stopping within each grid cell: one ASHA per cell, behind one Tune scheduler.

Tune runs one scheduler for the whole sweep, and a single ASHAScheduler would compare every trial
with every other at each rung: a CoLA trial judged against SST-2 scores. Optuna's pruners were the
other option, but Tune cannot act on them (OptunaSearch installs a no-op pruner), so the decision
has to be a Tune scheduler's. This one keeps an ASHAScheduler per cell and hands each trial's
results to its own cell's, so a trial is only ever compared with the trials of the same method,
options, task, model and dropout.

The rung metric is `peak/score` (the best validation score so far), not the epoch's score: a trial
that ASHA stops then trails some trial that goes on, so a cell's best trial (by the same peak score,
the Optuna objective) always runs to its last epoch. Replicas (other seeds at the chosen rate) are
never stopped: they are measurements, not candidates.
"""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

RUNG_METRIC = "peak/score"


class PerCellASHA(FIFOScheduler):
    def __init__(self, max_t: int, grace_period: int, reduction_factor: int):
        super().__init__()
        if grace_period > max_t:  # ASHA would assert inside fit(); the spec check names the key first
            raise ValueError(f"grace_period ({grace_period}) must not exceed the epochs ({max_t})")
        self.params = {"time_attr": "epoch", "metric": RUNG_METRIC, "mode": "max", "max_t": max_t,
                       "grace_period": grace_period, "reduction_factor": reduction_factor}
        self.cells: dict[str, ASHAScheduler] = {}

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # the rung metric is fixed (see the module's docstring)

    def _asha(self, trial) -> ASHAScheduler | None:
        if trial.config.get("role", "search") != "search":
            return None
        key = trial.config["cell_key"]
        if key not in self.cells:
            self.cells[key] = ASHAScheduler(**self.params)
        return self.cells[key]

    def on_trial_add(self, tune_controller, trial) -> None:
        asha = self._asha(trial)
        if asha is not None:
            asha.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        asha = self._asha(trial)
        if asha is None:
            return TrialScheduler.CONTINUE
        return asha.on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        asha = self._asha(trial)
        if asha is not None and trial.trial_id in asha._trial_info:
            asha.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        asha = self._asha(trial)
        if asha is not None:
            asha._trial_info.pop(trial.trial_id, None)

    def on_trial_error(self, tune_controller, trial) -> None:
        self.on_trial_remove(tune_controller, trial)

    def prefill(self, cell_key: str, trial_key: str, peaks: dict[int, float]) -> None:
        """On resume: a stored trial's peak score per epoch joins its cell's rungs, so the trials that
        run now are compared with those that ran before."""
        asha = self.cells.setdefault(cell_key, ASHAScheduler(**self.params))
        for milestone, recorded in asha._brackets[0]._rungs:
            if milestone in peaks:
                recorded[trial_key] = peaks[milestone]

    def debug_string(self) -> str:
        return f"PerCellASHA over {len(self.cells)} cells"
