"""Early stopping within each grid cell: one ASHA per cell, behind one Tune scheduler.

Tune runs one scheduler for the whole sweep, and a single ASHAScheduler would compare every trial
with every other at each rung: a CoLA trial judged against SST-2 scores. Optuna's pruners were the
other option, but Tune cannot act on them (OptunaSearch installs a no-op pruner), so the decision
has to be a Tune scheduler's. This one keeps ASHA's rungs per cell (`Rungs`: the bookkeeping of
Ray's ASHAScheduler with one bracket, owned here so that no Ray release can change it silently;
tests/test_searcher.py checks it against Ray's) and judges each trial at its own cell's rungs, so a
trial is only ever compared with the trials of the same method, options, task, model and dropout.

The rung metric is `peak/score` (the best validation score so far), not the epoch's score: a trial
that ASHA stops then trails some trial that goes on, so a cell's best trial (by the same peak score,
the Optuna objective) always runs to its last epoch. Replicas (other seeds at the chosen rate) are
never stopped: they are measurements, not candidates.
"""

from __future__ import annotations

import math

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from workers.members import EPOCH, LEFT, PEAK, Entry, MemberBook

RUNG_METRIC = PEAK


class Rungs:
    """One cell's ASHA rungs (asynchronous successive halving, one bracket): milestones at
    grace_period x reduction_factor^k epochs below max_t; a trial that reaches a milestone is
    recorded there, and stopped if its score is below the rung's (1 - 1/reduction_factor) quantile
    of the scores recorded before it."""

    def __init__(self, max_t: int, grace_period: int, reduction_factor: int):
        count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
        self.rf = reduction_factor
        self.milestones = [grace_period * reduction_factor ** k for k in reversed(range(count))]
        self.recorded: dict[int, dict[str, float]] = {m: {} for m in self.milestones}

    def judge(self, key: str, epoch: int, score: float) -> bool:
        """Record `score` at the highest milestone `epoch` reached that has no score of `key` yet;
        True when it trails that rung (stop the trial)."""
        for milestone in self.milestones:
            recorded = self.recorded[milestone]
            if epoch < milestone or key in recorded:
                continue
            stop = bool(recorded) and score < np.nanpercentile(list(recorded.values()), (1 - 1 / self.rf) * 100)
            recorded[key] = score
            return stop
        return False

    def prefill(self, key: str, peaks: dict[int, float]) -> None:
        """A stored trial's peak per epoch, recorded at the milestones it reached."""
        for milestone, recorded in self.recorded.items():
            if milestone in peaks:
                recorded[key] = peaks[milestone]


class PerCellASHA(FIFOScheduler):
    """Decides per member: a Tune trial holds one trial, or a pack of several (workers/pack.py). A
    pack's member that its cell's rungs stop leaves the pack through the board actor
    (orchestrator/tune/pack_board.py) while the others go on (and, with continuous packing, new ones
    join); the pack's Tune trial ends when its function returns, a lone trial's when it is stopped."""

    def __init__(self, max_t: int, grace_period: int, reduction_factor: int, board=None):
        super().__init__()
        if grace_period > max_t:  # the spec check names the key first
            raise ValueError(f"grace_period ({grace_period}) must not exceed the epochs ({max_t})")
        self.params = (max_t, grace_period, reduction_factor)
        self.cells: dict[str, Rungs] = {}
        self.board = board
        self.book = MemberBook()  # the members still in each Tune trial

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # the rung metric is fixed (see the module's docstring)

    def _rungs(self, entry: Entry) -> Rungs | None:
        """The member's cell's rungs; None for a replica (never stopped)."""
        if entry.role != "search":
            return None
        return self.cells.setdefault(entry.config["cell_key"], Rungs(*self.params))

    def on_trial_add(self, tune_controller, trial) -> None:
        self.book.add(trial.trial_id, trial.config.get("members", []))

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        entry = self.book.report(trial.trial_id, result)
        if entry is None or entry.ended is not None:
            return TrialScheduler.CONTINUE
        if LEFT in result:
            self.book.close(entry, result[LEFT])
            return TrialScheduler.CONTINUE
        if result.get("event_only"):
            return TrialScheduler.CONTINUE
        rungs, epoch = self._rungs(entry), int(result.get(EPOCH, 0))
        if epoch >= entry.planned:  # its last epoch: it joins the rungs as a finished trial, and its Tune
            # trial is not stopped: it ends when its function returns (its outputs saved)
            if rungs is not None and PEAK in result:
                rungs.judge(entry.key, epoch, result[PEAK])
            self.book.close(entry, "complete")
            return TrialScheduler.CONTINUE
        if rungs is None or PEAK not in result or not rungs.judge(entry.key, epoch, result[PEAK]):
            return TrialScheduler.CONTINUE
        self.book.close(entry, "stopped")
        if self.board is None or not trial.config.get("board"):
            return TrialScheduler.STOP  # a trial alone (not a pack): the Tune trial ends
        # a pack's member leaves through the board, even its last open one: with continuous packing new
        # members may take its place (its `left` report brings them), else the pack's function returns
        import ray

        ray.get(self.board.stop.remote(entry.key))  # before the worker's report returns (Tune reports synchronously)
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self.book.end_trial(trial.trial_id, failed=False)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self.book.end_trial(trial.trial_id, failed=False)

    def on_trial_error(self, tune_controller, trial) -> None:
        self.book.end_trial(trial.trial_id, failed=True)

    def prefill(self, cell_key: str, trial_key: str, peaks: dict[int, float]) -> None:
        """On resume: a stored trial's peak score per epoch joins its cell's rungs, so the trials that
        run now are compared with those that ran before."""
        self.cells.setdefault(cell_key, Rungs(*self.params)).prefill(trial_key, peaks)

    def debug_string(self) -> str:
        return f"PerCellASHA over {len(self.cells)} cells"
