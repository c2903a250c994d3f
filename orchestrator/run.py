"""Run a sweep: plan the grid, record it, and let one Ray Tune run train every trial into the store."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from db import queries
from db.engine import open_store, resolve_url
from db.writer import ResultsWriter
from orchestrator import provenance
from orchestrator.plan import expand
from orchestrator.spec import SweepSpec

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no tables; our callback prints progress


def _ray_init(spec: SweepSpec) -> bool:
    """Start a local Ray (or join spec.ray.address); True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if spec.ray.address:
        ray.init(address=spec.ray.address, log_to_driver=False)
    else:
        ray.init(num_cpus=spec.ray.num_cpus, num_gpus=spec.ray.num_gpus, include_dashboard=False,
                 object_store_memory=200 * 1024**2, log_to_driver=False)
    return True


def _scheduler(spec: SweepSpec):
    """None (FIFO: every trial runs all epochs) or ASHA on the validation score per epoch."""
    if spec.scheduler.type == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    from workers.trial import TrialConfig

    return ASHAScheduler(metric="val/score", mode="max", time_attr="epoch",
                         max_t=spec.training.get("epochs", TrialConfig.epochs),
                         grace_period=spec.scheduler.grace_period, reduction_factor=spec.scheduler.reduction_factor)


def run_sweep(spec: SweepSpec, db_url: str | None = None, echo: Callable[[str], None] = print,
              resume: int | None = None) -> int:
    """Returns the sweep's id. The store is opened (and checked) before Ray starts. `resume` names a
    stored sweep (whose spec this is) to finish: its studies learn the stored trials first."""
    import ray
    from ray import tune

    from orchestrator.callback import ResultsCallback
    from orchestrator.searcher import CellSearcher
    from workers.tune_adapter import tune_trainable

    db_url = resolve_url(db_url)
    engine = open_store(db_url)
    writer = ResultsWriter(engine)
    cells = expand(spec)
    if resume is None:
        sweep_id, history = writer.create_sweep(spec.name, spec.text, spec.hash, provenance.collect()), {}
    else:
        writer.reopen_sweep(resume)
        sweep_id, history = resume, queries.cell_history(engine, resume)
    cell_ids = writer.add_cells(sweep_id, [c.as_row() for c in cells])
    searcher = CellSearcher(spec, cells, cell_ids, history)
    total = searcher.total_trials()
    echo(f"sweep {sweep_id} '{spec.name}': {len(cells)} cells x {spec.optuna.trials_per_cell} Optuna trials"
         + (f", {total} still to run" if resume else f" = {total} trials"))
    if total == 0:
        echo("every cell already has its trials; nothing to run")
        writer.finish_sweep(sweep_id, "complete")
        return sweep_id
    run_name = f"superpos-sweep-{sweep_id}" + (f"-resume-{int(time.time())}" if resume else "")
    started = _ray_init(spec)
    state = "failed"
    try:
        resources = {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial}
        tuner = tune.Tuner(
            tune.with_resources(tune_trainable, resources),
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=_scheduler(spec),
                                        num_samples=total,
                                        max_concurrent_trials=spec.resources.max_concurrent_trials,
                                        reuse_actors=True),  # skip re-importing torch per trial
            run_config=tune.RunConfig(name=run_name, storage_path=spec.ray.storage_path,
                                      callbacks=[ResultsCallback(db_url, total, echo)],
                                      verbose=0),
        )
        results = tuner.fit()
        # Tune catches Ctrl-C itself and returns early: fewer trials than planned means interrupted
        state = "complete" if len(results) >= total else "interrupted"
    except KeyboardInterrupt:
        state = "interrupted"
        raise
    finally:
        writer.finish_sweep(sweep_id, state)
        if state != "complete":
            echo(f"sweep {sweep_id} {state}; what finished is stored. Finish it with: "
                 f"superpos sweep resume {sweep_id} --db {db_url}")
        if started:
            ray.shutdown()
    return sweep_id
