"""The Ray Tune trainable: a thin adapter around `run_trial` (the only worker module that imports Ray).

Each epoch's trainable state goes to Tune as a checkpoint with that epoch's report, so a trial that
Tune retries (`resources.retries`) or that a resumed sweep continues (`resume_from`, the stored
checkpoint of an interrupted trial) starts after its last finished epoch instead of at epoch 1.
"""

from __future__ import annotations

import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

from workers.machine import describe
from workers.trial import TrialConfig, run_trial

STATE_FILE = "trial_state.pt"


class TrialFailure(RuntimeError):
    """A trial's exception as its full traceback text (`.traceback_text`), so the driver stores the
    trial's own traceback rather than Ray's wrapping of it."""

    def __init__(self, traceback_text: str):
        lines = traceback_text.strip().splitlines()
        super().__init__(lines[-1] if lines else "trial failed")
        self.traceback_text = traceback_text

    def __reduce__(self):
        return TrialFailure, (self.traceback_text,)


def load_state(directory: str | Path) -> dict:
    import torch

    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


def tune_trainable(config: dict[str, Any]) -> None:
    """`config["trial"]` is a TrialConfig dict; every epoch's metrics and state go to `tune.report`."""
    import torch
    from ray import tune

    torch.set_num_threads(int(config.get("threads", 1)))  # the CPUs Tune gave this trial, not the machine's
    checkpoint = tune.get_checkpoint()
    resume_state = None
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            resume_state = load_state(folder)
    elif config.get("resume_from") and (Path(config["resume_from"]) / STATE_FILE).is_file():
        resume_state = load_state(config["resume_from"])
    saved: list[str] = []

    def save_state(state: dict) -> None:
        folder = tempfile.mkdtemp(prefix="superpos-ckpt-")
        torch.save(state, Path(folder) / STATE_FILE)
        saved.append(folder)

    node = describe()  # the callback records which machines ran the sweep

    def report(metrics: dict) -> None:
        metrics = {**metrics, "node": node}
        folder = saved.pop() if saved else None
        try:
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder) if folder else None)
        finally:  # Tune has copied the checkpoint into the run's storage by now
            if folder:
                shutil.rmtree(folder, ignore_errors=True)

    try:
        run_trial(TrialConfig.from_dict(config["trial"]), report=report, save_state=save_state,
                  resume_state=resume_state, cache=bool(config.get("cache", True)))
    except Exception:
        raise TrialFailure(traceback.format_exc()) from None

