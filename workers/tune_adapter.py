"""The Ray Tune trainable: a thin adapter around `run_trial` (the only worker module that imports Ray)."""

from __future__ import annotations

from typing import Any

from workers.trial import TrialConfig, run_trial


def tune_trainable(config: dict[str, Any]) -> None:
    """`config["trial"]` is a TrialConfig dict; every epoch's metrics go to `tune.report`."""
    from ray import tune

    run_trial(TrialConfig.from_dict(config["trial"]), report=tune.report)
