"""MLflow as a mirror of the store (spec.tracking.mlflow): one MLflow run per trial, pack members
included (Ray Tune's own MLflowLoggerCallback logs one run per Tune trial, which would mix a pack's
members), named "<cell key> #<number>", with the trial's parameters as MLflow params and tags, every
epoch's stored metrics at step = epoch, and the run's end as the trial's (FINISHED for complete or
stopped early, FAILED). The results store stays the record: nothing is read back from MLflow.
"""

from __future__ import annotations

import time

from ray import tune

from db.writer import stored_metrics
from workers.members import EPOCH, EVENT_ONLY, LEFT, PEAK, Entry, MemberBook

END = {"complete": "FINISHED", "stopped": "FINISHED", "failed": "FAILED"}


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
        from orchestrator.spec.preflight import unreachable

        why = unreachable(tracking_uri, default_port=443 if tracking_uri.startswith("https") else 80)
        if why:
            return (f"spec.tracking.mlflow.tracking_uri: cannot reach {tracking_uri} ({why}); start the MLflow "
                    "server (mlflow server) or fix the URI, or remove the tracking section")
    return None


class MlflowMembers(tune.Callback):
    def __init__(self, tracking_uri: str, experiment: str, sweep_id: int):
        self.tracking_uri, self.experiment, self.sweep_id = tracking_uri, experiment, sweep_id
        self.book = MemberBook()
        self.runs: dict[str, str] = {}  # member key -> MLflow run id
        self._client = self._experiment_id = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None}

    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

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

    def on_trial_start(self, iteration, trials, trial, **info):
        self.book.add(trial.trial_id, trial.config["members"])

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

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._end(trial, failed=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, failed=True)
