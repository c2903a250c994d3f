"""What Ray and Tune print and write during a sweep, cut to what a user needs: the callback prints one
line per trial and the store keeps the tracebacks."""

from __future__ import annotations

import logging
import os


class DropTuneNoise(logging.Filter):
    """Tune logs every failed trial with its whole traceback (~90 lines), and on Ctrl-C advises its own
    `Tuner.restore` and lists trials without result files. The callback prints one line per trial,
    the store keeps the tracebacks, and `superpos sweep resume` is the way to continue."""

    DROPPED = ("Trial task failed", "Tuner.restore", "Could not fetch metrics", "Failed to fetch metrics",
               "Trials did not complete", "Wrote the latest version of all result files")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(part in message for part in self.DROPPED)


def quiet_raylet_deaths() -> None:
    """A node whose raylet dies has each of its agents publish `Raylet is terminated ...` with the
    raylet's last log lines (~40 lines of state dump) to every driver, which prints them. Drop those:
    Ray's own one line (`The node with node id ... and address ... has been marked dead`) names the
    node, and its trials' failures say the rest. Ray's driver prints these through
    `ray._private.worker.print_to_stdstream` (private: if it moves, the lines come through unfiltered)."""
    from ray._private import worker

    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "superpos_quiet", False):
        return

    def quiet(data, ignore_prefix: bool):
        lines = data.get("lines") or []
        if data.get("pid") == "raylet" and lines and str(lines[0]).startswith("Raylet is terminated"):
            return
        original(data, ignore_prefix)

    quiet.superpos_quiet = True
    worker.print_to_stdstream = quiet


TUNE_LOGGERS = ("ray.tune.execution.tune_controller", "ray.tune.tune", "ray.tune.analysis.experiment_analysis")


def tune_loggers() -> list:
    """Tune's own files: result.json only (Tune reads it back). No TensorBoard or CSV files: the store is
    the record, and a pack's TensorBoard file would interleave its members under one trial."""
    from ray.tune.logger import JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # read when the Tuner builds its callbacks
    return [JsonLoggerCallback()]


class _DropTokenNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Token authentication is enabled for this Ray cluster" not in record.getMessage()


def quiet_token_notice() -> None:
    """Ray announces on every local start that it turned token authentication on (a good default, which
    stays on); the notice is dropped. Its warning that authentication is *off* still shows."""
    logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(f, _DropTokenNotice) for f in logger.filters):
        logger.addFilter(_DropTokenNotice())


def skip_unsent_usage_tag() -> None:
    """Tune counts the run's callbacks for a Ray usage tag by importing every logger integration it
    knows, MLflow's among them (about 1.2 s of every driver's start where mlflow is installed, as with
    the `tracking` extra). With Ray's usage stats off (RAY_USAGE_STATS_ENABLED=0) that tag is never
    sent, so it is not counted. Ray calls `ray.air._internal.usage.tag_callbacks` through its module
    (private: if it moves, the import just costs its time again)."""
    from ray._common.usage.usage_lib import usage_stats_enabled
    from ray.air._internal import usage

    if not usage_stats_enabled() and hasattr(usage, "tag_callbacks"):
        usage.tag_callbacks = lambda callbacks: False
