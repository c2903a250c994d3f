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

from types import SimpleNamespace

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from workers.tune_adapter import member_key  # a member's id in its cell's rungs, on the board, in checkpoints

RUNG_METRIC = "peak/score"


class PerCellASHA(FIFOScheduler):
    """Decides per member: a Tune trial holds one trial, or a pack of several (workers/pack.py). A
    pack's member that its cell's ASHA stops leaves the pack through the board actor
    (orchestrator/pack_board.py) while the others go on; the Tune trial stops with its last member."""

    def __init__(self, max_t: int, grace_period: int, reduction_factor: int, board=None):
        super().__init__()
        if grace_period > max_t:  # ASHA would assert inside fit(); the spec check names the key first
            raise ValueError(f"grace_period ({grace_period}) must not exceed the epochs ({max_t})")
        self.params = {"time_attr": "epoch", "metric": RUNG_METRIC, "mode": "max", "max_t": max_t,
                       "grace_period": grace_period, "reduction_factor": reduction_factor}
        self.cells: dict[str, ASHAScheduler] = {}
        self.board = board
        self.running: dict[str, set[int]] = {}  # Tune trial id -> indices of members still in it

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # the rung metric is fixed (see the module's docstring)

    def _asha(self, member: dict) -> ASHAScheduler | None:
        if member.get("role", "search") != "search":
            return None
        return self.cells.setdefault(member["cell_key"], ASHAScheduler(**self.params))

    def _members(self, trial) -> list[dict]:
        return trial.config.get("members", [])

    def on_trial_add(self, tune_controller, trial) -> None:
        members = self._members(trial)
        self.running[trial.trial_id] = set(range(len(members)))
        for member in members:
            asha = self._asha(member)
            if asha is not None:
                asha.on_trial_add(tune_controller, SimpleNamespace(trial_id=member_key(member)))

    def _drop(self, trial, index: int) -> None:
        member = self._members(trial)[index]
        self.running.get(trial.trial_id, set()).discard(index)
        asha = self._asha(member)
        if asha is not None:
            asha._trial_info.pop(member_key(member), None)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        index = result.get("member", 0)
        members = self._members(trial)
        if result.get("event_only") or index >= len(members):
            if "left" in result:
                self._drop(trial, index)
            return TrialScheduler.CONTINUE
        member = members[index]
        asha, key = self._asha(member), member_key(member)
        planned = member.get("trial", {}).get("epochs", self.params["max_t"])
        if "left" in result or result.get("epoch", 0) >= planned:  # its last epoch: it joins the rungs as a
            # finished trial, and its Tune trial is not stopped: it ends when its function returns
            if asha is not None and key in asha._trial_info:
                asha.on_trial_complete(tune_controller, SimpleNamespace(trial_id=key), result)
            self._drop(trial, index)
            return TrialScheduler.CONTINUE
        if asha is None or key not in asha._trial_info:
            return TrialScheduler.CONTINUE
        if asha.on_trial_result(tune_controller, SimpleNamespace(trial_id=key), result) != TrialScheduler.STOP:
            return TrialScheduler.CONTINUE
        others = self.running.get(trial.trial_id, set()) - {index}
        self._drop(trial, index)
        if not others or self.board is None:
            return TrialScheduler.STOP  # its last member: the Tune trial ends
        import ray

        ray.get(self.board.stop.remote(key))  # before the worker's report returns (Tune reports synchronously)
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        """A Tune trial that ends on its own ends after its members' last reports (handled above);
        one that early stopping ended: its member joined the rungs when it was stopped."""
        self.on_trial_remove(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        for index in list(self.running.pop(trial.trial_id, set())):
            member = self._members(trial)[index]
            asha = self._asha(member)
            if asha is not None:
                asha._trial_info.pop(member_key(member), None)

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
