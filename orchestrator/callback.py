"""The driver-side Tune callback that writes every trial to the results store (the single writer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ray import tune

from db.engine import open_store
from db.writer import ResultsWriter
from workers.trial import TrialConfig


def _error_text(trial) -> str:
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        return Path(path).read_text()
    return f"trial {trial.trial_id} failed (no error file)"


class ResultsCallback(tune.Callback):
    """Creates the trial row when Tune starts a trial, logs each epoch, closes it with its scores."""

    def __init__(self, db_url: str, total: int, echo: Callable[[str], None] = print):
        self.db_url, self.total, self.echo = db_url, total, echo
        self._writer: ResultsWriter | None = None
        self.db_ids: dict[str, int] = {}
        self.trainable: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.done = 0

    @property
    def writer(self) -> ResultsWriter:
        if self._writer is None:
            self._writer = ResultsWriter(open_store(self.db_url))
        return self._writer

    def __getstate__(self) -> dict:
        """Tune pickles its callbacks with the experiment state: leave the engine behind."""
        return {**self.__dict__, "_writer": None}

    def _start(self, trial) -> int:
        cfg = trial.config
        method_cfg = TrialConfig.from_dict(cfg["trial"]).method_config()
        self.db_ids[trial.trial_id] = self.writer.start_trial(
            cfg["cell_id"], cfg["number"], trial.trial_id, cfg["trial"], method_cfg.lr, method_cfg.weight_decay
        )
        self.started[trial.trial_id] = time.monotonic()
        return self.db_ids[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        self._start(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        db_id, step = self.db_ids[trial.trial_id], int(result["epoch"])
        self.writer.log_metrics(db_id, step, result)
        if result.get("snapshot"):
            self.writer.store_snapshots(db_id, step, result["snapshot"])
        self.trainable[trial.trial_id] = result.get("trainable_parameters")

    def _finish(self, trial, state: str, error: str | None = None) -> None:
        db_id = self.db_ids.get(trial.trial_id) or self._start(trial)  # a trial can fail before it starts
        self.writer.finish_trial(db_id, state, error, self.trainable.get(trial.trial_id))
        self.done += 1
        seconds = time.monotonic() - self.started.get(trial.trial_id, time.monotonic())
        last = trial.last_result or {}
        outcome = state.upper() if state == "failed" or "peak/score" not in last else (
            f"peak val score {100 * last['peak/score']:.1f} (epoch {last['peak/epoch']})"
            + (f", stopped early at epoch {last['epoch']}" if state == "stopped" else ""))
        self.echo(f"[{self.done:>3}/{self.total}] {trial.config['cell_key']}  "
                  f"lr={trial.config['trial']['lr']:.2e}  {outcome}  {seconds:.1f}s")

    def on_trial_complete(self, iteration, trials, trial, **info):
        """'stopped' when a scheduler (ASHA) ended it before its last epoch, else 'complete'."""
        last_epoch = (trial.last_result or {}).get("epoch", 0)
        planned = trial.config["trial"].get("epochs", TrialConfig.epochs)
        self._finish(trial, "complete" if last_epoch >= planned else "stopped")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finish(trial, "failed", _error_text(trial))
