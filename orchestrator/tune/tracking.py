"""MLflow as a mirror of the store (spec.tracking.mlflow): one MLflow run per trial, pack members
included (Ray Tune's own MLflowLoggerCallback logs one run per Tune trial, which would mix a pack's
members), named "<cell key> #<number>", with the trial's parameters as MLflow params and tags, every
epoch's stored metrics at step = epoch, and the run's end as the trial's (FINISHED for complete or
stopped early, FAILED). The results store stays the record: nothing is read back from MLflow.

A mirror that fails (its server gone, answering 5xx, timing out) never stops the sweep: the first
error is said once, mirroring stops, and the trials go on into the store. MLflow's client would
retry a request for about 4 minutes (7 retries, backoff factor 2) while the sweep's loop waits; here
it retries twice (HTTP_RETRIES; the user's own MLFLOW_HTTP_REQUEST_* settings win).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

from ray import tune

from db.writer import stored_metrics
from workers.members import EPOCH, EVENT_ONLY, LEFT, PEAK, Entry, MemberBook

END = {"complete": "FINISHED", "stopped": "FINISHED", "failed": "FAILED"}
HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}  # a dead server: seconds; a hung one: 90 s, once
MLFLOW_ANSWER_S = 10.0  # before the store opens, a server that is silent already is named (not 93 s of a held driver)


def check_mlflow(tracking_uri: str | None = None) -> str | None:
    """None, or why spec.tracking.mlflow cannot work here: mlflow not installed, or a tracking server
    that refuses connections (MLflow's client retried for ~4 minutes, then the sweep ended in a
    traceback, stored failed)."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return ("spec.tracking.mlflow: the mlflow package is not installed; install it with "
                "pip install 'superpos[tracking]' (or mlflow-skinny), or remove the tracking section")
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        from orchestrator.spec.preflight import silent, unreachable

        why = unreachable(tracking_uri, default_port=443 if tracking_uri.startswith("https") else 80)
        if not why:  # a server that takes connections and never answers held the sweep's driver for 93 s
            why = silent(f"{tracking_uri.rstrip('/')}/health", MLFLOW_ANSWER_S)
        if why:
            return (f"spec.tracking.mlflow.tracking_uri: cannot reach {tracking_uri} ({why}); start the MLflow "
                    "server (mlflow server) or fix the URI, or remove the tracking section")
    return None


def mirrored(hook: Callable) -> Callable:
    """A Tune hook that mirrors into MLflow: nothing once the mirror has failed; its first error is
    said once (MlflowMembers.fail) and stops mirroring, never the sweep."""

    @functools.wraps(hook)
    def guarded(self, *args, **kwargs):
        if self.failed is None:
            try:
                hook(self, *args, **kwargs)
            except Exception as err:  # noqa: BLE001 - any error of the mirror: the store is the record
                self.fail(err)

    return guarded


class MlflowMembers(tune.Callback):
    def __init__(self, tracking_uri: str, experiment: str, sweep_id: int, echo: Callable[[str], None] = print):
        self.tracking_uri, self.experiment, self.sweep_id, self.echo = tracking_uri, experiment, sweep_id, echo
        self.book = MemberBook()
        self.runs: dict[str, str] = {}  # member key -> MLflow run id
        self._client = self._experiment_id = None
        self.failed: str | None = None  # the error that stopped the mirror

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None, "echo": print}

    def fail(self, err: Exception) -> None:
        self.failed = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        self.echo(f"WARNING: {self.stopped_note()}")

    def stopped_note(self) -> str:
        return (f"the MLflow mirror ({self.tracking_uri}) failed and stopped: {self.failed}; the sweep goes on "
                f"and the results store keeps every trial ({len(self.runs)} trial(s) were mirrored before it; "
                "those not finished then stay RUNNING in MLflow)")

    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

            for name, value in HTTP_RETRIES.items():
                os.environ.setdefault(name, value)

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
            found = self._client.get_experiment_by_name(self.experiment)
            self._experiment_id = found.experiment_id if found else self._client.create_experiment(self.experiment)
        return self._client

    def _run(self, entry: Entry) -> str:
        if entry.key not in self.runs:
            cfg, trial = entry.config, entry.config["trial"]
            run = self.client.create_run(self._experiment_id, run_name=f"{cfg['cell_key']} #{cfg['number']}",
                                         tags={"superpos.sweep": str(self.sweep_id), "superpos.cell": cfg["cell_key"],
                                               "superpos.number": str(cfg["number"]), "superpos.role": entry.role})
            params = {k: trial[k] for k in ("method", "task", "model", "dropout", "lr", "weight_decay", "seed",
                                            "epochs", "batch_size") if k in trial}
            for key, value in {**params, **{f"option.{k}": v for k, v in trial.get("method_params", {}).items()}}.items():
                self.client.log_param(run.info.run_id, key, str(value))
            self.runs[entry.key] = run.info.run_id
        return self.runs[entry.key]

    @mirrored
    def on_trial_start(self, iteration, trials, trial, **info):
        self.book.add(trial.trial_id, trial.config["members"])

    @mirrored
    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.book.add(trial.trial_id, trial.config["members"])
        entry = self.book.report(trial.trial_id, result)
        if entry is None:
            return
        run_id = self._run(entry)
        if not result.get(EVENT_ONLY):  # one batch per epoch (one request to the tracking store)
            from mlflow.entities import Metric

            step, now = int(result[EPOCH]), int(time.time() * 1000)
            shown = {**stored_metrics(result), **({PEAK: result[PEAK]} if PEAK in result else {})}
            self.client.log_batch(run_id, metrics=[Metric(key, float(value), now, step)
                                                   for key, value in shown.items() if value == value])
        if LEFT in result and self.book.close(entry, result[LEFT]):
            self.client.set_terminated(run_id, END[entry.ended])

    def _end(self, trial, failed: bool) -> None:
        self.book.add(trial.trial_id, trial.config["members"])
        for entry in self.book.end_trial(trial.trial_id, failed):
            self.client.set_terminated(self._run(entry), END[entry.ended])

    @mirrored
    def on_trial_complete(self, iteration, trials, trial, **info):
        self._end(trial, failed=False)

    @mirrored
    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, failed=True)
