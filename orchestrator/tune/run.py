"""Run a sweep: check it against the machine, record it, and let one Ray Tune run train every trial
into the store; then say honestly how it ended."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from db import queries, run_state
from db.engine import StoreWriteError, command_url, open_store, resolve_url
from db.writer import ResultsWriter
from orchestrator.spec import SpecError, SweepSpec
from orchestrator.spec.plan import Cell, expand
from orchestrator.spec.preflight import (
    check_address,
    check_environment,
    check_local_gpus,
    check_not_a_job,
    check_resources,
)
from orchestrator.spec.ray_token import check_cluster_token
from orchestrator.tune import provenance, sources
from orchestrator.tune.callback import first_line
from orchestrator.tune.measured import train_sizes
from orchestrator.tune.quiet import tune_loggers
from orchestrator.tune.ray_start import start_ray
from orchestrator.tune.store_fault import stopped, store_fault

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no tables; our callback prints progress
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")  # a checkpoint per epoch is by design


class _CancelOnSigterm:
    """`superpos sweep cancel` and `ray job stop` send SIGTERM: turn it into the Ctrl-C that Tune stops
    on gracefully, and remember that it was a cancel (the sweep is stored `cancelled`, resumable)."""

    def __init__(self):
        self.requested = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        os.kill(os.getpid(), signal.SIGINT)

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
            self.previous = None


def _scheduler(spec: SweepSpec, engine, sweep_id: int, resume: bool, board=None):
    """None (FIFO: every trial runs all epochs) or ASHA within each cell (orchestrator/tune/early_stopping.py)."""
    if spec.scheduler.type == "fifo":
        return None
    from orchestrator.tune.early_stopping import PerCellASHA

    scheduler = PerCellASHA(spec.epochs, spec.scheduler.grace_period, spec.scheduler.reduction_factor, board)
    if resume:
        for cell_key, trials in run_state.epoch_peaks(engine, sweep_id).items():
            for trial_id, peaks in trials.items():
                scheduler.prefill(cell_key, f"stored-{trial_id}", peaks)
    return scheduler


def trial_folder(trial) -> str:
    """Short trial folder names (Tune's default repeats the whole config); a pack's names its first member."""
    members = trial.config["members"]
    pack = f"pack{len(members)}-" if len(members) > 1 else ""
    return f"{pack}cell{members[0]['cell_id']}-n{members[0]['number']}-{trial.trial_id}"


def run_name(db_url: str, sweep_id: int) -> str:
    """Unique per store, sweep and run: sweeps of different databases never share a Tune folder."""
    store = hashlib.sha256(db_url.encode()).hexdigest()[:8]
    return f"superpos-{store}-sweep{sweep_id}-{time.strftime('%Y%m%d-%H%M%S')}"


def outcome(engine, spec: SweepSpec, cells: list[Cell], sweep_id: int) -> tuple[str, list[str]]:
    """(state, failed-cell lines). complete: every cell has its search budget and replicas finished;
    failed: some cell has no finished search trial; partial: every cell has a rate, some trials failed."""
    progress = run_state.cell_progress(engine, sweep_id).set_index("key")
    budget = {c.key: spec.optuna.budget(c.method) for c in cells}
    lines, complete, failed = [], True, False
    for key, row in progress.iterrows():
        if key not in budget:
            continue
        if row.search_done == 0:
            failed = True
        if row.search_done < budget[key] or (row.search_done and row.replicas_done < spec.replicas):
            complete = False
        if row.failed:
            lines.append(f"  {key}: {row.failed} failed, {row.search_done}/{budget[key]} search trials finished: "
                         f"{first_line(row.error or '')}")
        if row.blocked:
            lines.append(f"  {key}: {row.blocked}")
    return ("complete" if complete else "failed" if failed else "partial"), lines


def _advice(engine, spec: SweepSpec, sweep_id: int, state: str, db_url: str) -> str | None:
    """What will continue a sweep that did not complete, and only what will do something: a plain
    resume for interrupted work and failed trials with retries left; `--retry-failed` for the rest."""
    if state not in ("interrupted", "cancelled", "failed", "partial"):
        return None
    resume = f"superpos sweep resume {sweep_id} --db {command_url(db_url)}"
    left, spent = run_state.failed_retries(engine, sweep_id, spec.resources.retries)
    if state in ("interrupted", "cancelled") or left:
        return f"Continue it with: {resume}"
    if spent:
        return (f"{spent} failed trial(s) are out of retries (spec.resources.retries = {spec.resources.retries}); "
                f"once their cause is fixed, run them again with: {resume} --retry-failed")
    return None


def _trackers(spec: SweepSpec, sweep_id: int, echo: Callable[[str], None]) -> list:
    """The mirrors spec.tracking asks for (orchestrator/tune/tracking.py)."""
    if spec.tracking.mlflow is None:
        return []
    from orchestrator.tune.tracking import MlflowMembers

    return [MlflowMembers(spec.tracking.mlflow.tracking_uri, spec.tracking.mlflow.experiment or spec.name, sweep_id,
                          echo)]


def _nothing_left(spec: SweepSpec, cells: list[Cell], writer, engine, sweep_id: int, retry_failed: bool) -> bool:
    """Whether a resume of a finished sweep has no trial to run (asked before Ray starts)."""
    from orchestrator.tune.searcher import CellSearcher

    cell_ids = writer.add_cells(sweep_id, [c.as_row() for c in cells])
    probe = CellSearcher(spec, cells, cell_ids, run_state.cell_history(engine, sweep_id), retry_failed=retry_failed)
    return probe.total_trials() == 0


def run_sweep(spec: SweepSpec, db_url: str | None = None, echo: Callable[[str], None] = print,
              resume: int | None = None, retry_failed: bool = False) -> int:
    """Returns the sweep's id. Every check (store, models, data, Ray, resources) runs before the sweep's
    row is written. `resume` names a stored sweep (whose spec this is) to finish; `retry_failed` also
    runs its failed trials that are out of retries, each with a fresh budget."""
    import ray
    from ray import tune

    from orchestrator.tune.callback import ResultsCallback
    from orchestrator.tune.pack_board import start_board
    from orchestrator.tune.packing import pack_sizes
    from orchestrator.tune.searcher import CellSearcher
    from workers.tune_adapter import tune_trainable

    db_url = resolve_url(db_url)
    check_environment(spec)  # before the store opens: a spec that cannot run leaves no new file behind
    check_address(spec.ray.address)
    check_not_a_job(spec)
    if spec.ray.joins_cluster:
        check_cluster_token(spec.ray.address)
    check_local_gpus(spec)
    if spec.tracking.mlflow is not None:
        from orchestrator.tune.tracking import check_mlflow

        problem = check_mlflow(spec.tracking.mlflow.tracking_uri)
        if problem:
            raise SpecError(problem)
    if spec.sources is not None and not spec.staged:  # an earlier sweep's prompts: its store must exist
        open_store(db_url, readonly=True).dispose()
    engine = open_store(db_url)
    writer = ResultsWriter(engine)
    cells = sources.bind(spec, expand(spec), engine, resume)  # ATTEMPT's source prompts, from the store
    if resume is not None:
        details = queries.sweep_details(engine, resume)  # an unknown id fails here
        stored = set(run_state.cell_history(engine, resume))
        if stored and not stored & {c.key for c in cells}:
            raise SpecError(f"sweep {resume} was planned by an earlier superpos (its cells have other keys, e.g. "
                            f"{sorted(stored)[0]!r}); resuming it would start over: run its spec as a new sweep")
        spec = provenance.pinned(spec, details.get("inputs") or {})  # the commits the sweep started with
        if details["state"] in ("complete", "partial", "failed") and _nothing_left(spec, cells, writer, engine,
                                                                                    resume, retry_failed):
            echo(f"sweep {resume} '{spec.name}': every cell already has its trials; nothing to run")
            advice = _advice(engine, spec, resume, details["state"], db_url)
            if advice:
                echo(advice)
            return resume
        found = None
    else:
        found = provenance.inputs(spec)
        spec = provenance.pinned(spec, found)
    started = start_ray(spec)
    sweep_id, state = None, "failed"
    cancel = _CancelOnSigterm()
    try:
        check_resources(spec)
        sizes = pack_sizes(spec, echo)  # before the sweep's row: `auto` may need to ask a GPU
        if resume is None:
            sweep_id = writer.create_sweep(spec.name, spec.text, spec.hash, provenance.collect(found))
        else:
            sweep_id = resume
            writer.reopen_sweep(resume)
        cell_ids = writer.add_cells(sweep_id, [c.as_row() for c in cells])
        writer.set_run(sweep_id, planned_trials=sum(spec.trials_per_cell(c.method) for c in cells),
                       driver=f"{socket.gethostname()}:{os.getpid()}", job_id=os.environ.get("SUPERPOS_JOB_ID"),
                       job_address=os.environ.get("SUPERPOS_JOB_ADDRESS"))
        history = run_state.cell_history(engine, sweep_id) if resume is not None else {}
        name = run_name(db_url, sweep_id)
        packed = max(sizes.values()) > 1
        board, board_name = start_board(name) if packed else (None, None)
        searcher = CellSearcher(spec, cells, cell_ids, history, sizes, board_name, retry_failed=retry_failed,
                                staged=sources.StagedSources(db_url, spec) if spec.staged else None,
                                train_sizes=train_sizes(spec) if packed else None)
        total = searcher.total_trials()
        for note in searcher.notes:
            echo(f"WARNING: {note}")
        echo(f"sweep {sweep_id} '{spec.name}': {len(cells)} cells, {total} trials "
             + ("still to run" if resume is not None else
                f"({spec.optuna.sampler} search of the learning rate, {spec.replicas} replica seed(s))"))
        if total == 0:
            echo("every cell already has its trials; nothing to run")
        else:
            trackers = _trackers(spec, sweep_id, echo)
            callback = ResultsCallback(db_url, total, spec.resources.retries, echo, epochs=spec.epochs,
                                       progress=echo is print and sys.stderr.isatty(), sweep_id=sweep_id)
            tuner = tune.Tuner(
                tune.with_resources(tune_trainable, {"cpu": spec.resources.cpus_per_trial,
                                                     "gpu": spec.resources.gpus_per_trial}),
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=_scheduler(spec, engine, sweep_id,
                                                                                      resume is not None, board),
                                            num_samples=total,
                                            max_concurrent_trials=spec.resources.max_concurrent_trials,
                                            trial_dirname_creator=trial_folder,
                                            reuse_actors=True),  # one worker process serves many trials
                run_config=tune.RunConfig(
                    name=name, storage_path=spec.ray.storage_path,
                    # the results callback first: it takes the artefacts out of each report
                    callbacks=[callback, *trackers, *tune_loggers()],
                    failure_config=tune.FailureConfig(max_failures=spec.resources.retries),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1), verbose=0),
            )
            try:
                tuner.fit()
            finally:
                callback.close()
            for note in (tracker.stopped_note() for tracker in trackers if tracker.failed):
                echo(f"WARNING: {note}")  # said again at the end: the first may have scrolled away
            if callback.nodes:
                details = queries.sweep_details(engine, sweep_id)
                ran = "; ".join(sorted(callback.nodes))
                writer.set_run(sweep_id, hardware=f"{(details['hardware'] or '').split('; trials on ')[0]}; "
                                                  f"trials on {ran}")
        # Tune catches Ctrl-C itself and returns early: trials left running or work never handed out
        unfinished = run_state.cell_progress(engine, sweep_id)["unfinished"].sum()
        state = "interrupted" if unfinished or not searcher.is_done() else "ended"
    except KeyboardInterrupt:
        state = "interrupted"
        raise
    except Exception as err:
        fault = store_fault(err)
        if fault is None:
            raise
        state = "interrupted"
        raise stopped(fault, db_url, sweep_id) from None
    finally:
        cancel.restore()
        if state == "interrupted" and cancel.requested:
            state = "cancelled"
        try:
            if sweep_id is not None:
                _record_end(engine, writer, spec, cells, sweep_id, state, db_url, echo)
        except DBAPIError as err:  # the store refused this write too
            if not isinstance(err.__context__, StoreWriteError):  # else the first refusal is being said
                raise stopped(err, db_url, sweep_id) from None
        finally:
            if started:
                ray.shutdown()
    return sweep_id


def _record_end(engine, writer: ResultsWriter, spec: SweepSpec, cells: list[Cell], sweep_id: int, state: str,
                db_url: str, echo: Callable[[str], None]) -> None:
    """How the run ended, into the store and said: failed cells named, then what to do next."""
    if state not in ("interrupted", "cancelled"):
        state, failed = outcome(engine, spec, cells, sweep_id)
        if failed:
            what = "failed trials" + (" and blocked cells" if any(": blocked:" in x for x in failed) else "")
            echo(f"{what}, by cell (`superpos sweep status {sweep_id} --errors` prints the tracebacks):")
            for line in failed:
                echo(line)
    writer.finish_sweep(sweep_id, state)
    advice = _advice(engine, spec, sweep_id, state, db_url)
    if advice:
        echo(f"sweep {sweep_id} {state}; what finished is stored. {advice}")
