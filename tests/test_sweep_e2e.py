"""A real sweep through Ray Tune + Optuna into SQLite, checked row by row."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import queries, tables
from db.engine import open_store
from db.models import Cell, Metric, Score, Snapshot, Sweep, Trial
from orchestrator.spec.plan import expand

pytestmark = pytest.mark.slow  # real Ray sweeps


def test_every_planned_trial_is_stored_complete(tiny_sweep):
    url, sweep_id, spec, lines = tiny_sweep
    engine = open_store(url, readonly=True)
    planned = expand(spec)
    with Session(engine) as s:
        sweep = s.get(Sweep, sweep_id)
        assert sweep.state == "complete" and sweep.spec_hash == spec.hash and sweep.finished_ms
        cells = s.scalars(select(Cell).where(Cell.sweep_id == sweep_id)).all()
        assert sorted(c.key for c in cells) == sorted(c.key for c in planned)
        trials = s.scalars(select(Trial).join(Cell).where(Cell.sweep_id == sweep_id)).all()
        assert len(trials) == len(planned) * spec.optuna.trials_per_cell
        assert {t.state for t in trials} == {"complete"}
        for cell in cells:  # Optuna numbers 0..n-1 within each cell's own study
            assert sorted(t.number for t in cell.trials) == list(range(spec.optuna.trials_per_cell))
        for t in trials:
            epochs = s.scalars(select(Metric.step).where(Metric.trial_id == t.id, Metric.key == "val/score")).all()
            assert sorted(epochs) == [1, 2]
            best = s.scalar(select(func.max(Metric.value)).where(Metric.trial_id == t.id, Metric.key == "val/score"))
            assert t.objective == best
            assert t.trainable_parameters > 0 and t.ray_trial_id
            low, high = spec.optuna.lr_range(cell_method := t.cell.method)
            assert low <= t.lr <= high, cell_method
            assert s.scalar(select(func.count()).select_from(Score).where(Score.trial_id == t.id)) > 0


def test_progress_line_per_finished_trial(tiny_sweep):
    _, _, spec, lines = tiny_sweep
    progress = [line for line in lines if line.startswith("[")]
    total = len(expand(spec)) * spec.optuna.trials_per_cell
    assert len(progress) == total and progress[-1].startswith(f"[{total:>3}/{total}]")


def test_comparison_table_has_a_row_per_method_and_dropout(tiny_sweep):
    url, sweep_id, spec, _ = tiny_sweep
    table = tables.scores(open_store(url, readonly=True), sweep_id)
    assert sorted(zip(table["method"], table["dropout"])) == sorted(
        (m, d) for m in spec.methods for d in spec.dropout)
    assert {"rte", "average"} <= set(table.columns)
    assert table["rte"].between(0, 100).all()


def test_cli_table_prints_the_same_table(tiny_sweep):
    url, sweep_id, *_ = tiny_sweep
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "table", "--db", url], capture_output=True,
                         text=True, check=True).stdout
    assert f"sweep {sweep_id}" in out and "superpos_prompt" in out and "prompt_tuning" in out and "average" in out


def test_superpos_weights_are_snapshotted_with_shape(tiny_sweep):
    url, sweep_id, spec, _ = tiny_sweep
    engine = open_store(url, readonly=True)
    with Session(engine) as s:
        snaps = s.scalars(select(Snapshot).join(Trial).join(Cell).where(Cell.sweep_id == sweep_id)).all()
        superpos_trials = s.scalar(select(func.count()).select_from(Trial).join(Cell).where(
            Cell.sweep_id == sweep_id, Cell.method == "superpos_prompt"))
    assert len(snaps) == superpos_trials and {s.shape for s in snaps} == {"[10, 8]"}
    arrays = queries.snapshots(engine, sweep_id)
    assert {a.shape for a in arrays["array"]} == {(10, 8)} and set(arrays["method"]) == {"superpos_prompt"}


def test_sweep_records_provenance(tiny_sweep):
    import json

    url, sweep_id, *_ = tiny_sweep
    with Session(open_store(url, readonly=True)) as s:
        sweep = s.get(Sweep, sweep_id)
        versions = json.loads(sweep.versions)
    assert {"python", "torch", "transformers", "ray", "optuna", "datasets"} <= set(versions)
    assert versions["torch"] and sweep.hardware.startswith("driver ")
    assert "; trials on " in sweep.hardware and sweep.hardware.count("cpu: ") == 2  # the driver and the node


def test_export_writes_the_views(tiny_sweep, tmp_path):
    import pandas as pd

    url, sweep_id, spec, _ = tiny_sweep
    for fmt, reader in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "db", "export", "--db", url, "--format", fmt,
                              "--out", str(tmp_path / fmt)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        summary = reader(tmp_path / fmt / f"trial_summary.{fmt}")
        best = reader(tmp_path / fmt / f"best_trials.{fmt}")
        assert len(summary) == len(expand(spec)) * spec.optuna.trials_per_cell
        assert len(best) == len(expand(spec)) and best["reported_score"].notna().all()
        cells = reader(tmp_path / fmt / f"cell_results.{fmt}")
        metrics = reader(tmp_path / fmt / f"metrics.{fmt}")
        assert len(cells) == len(expand(spec)) and set(metrics["trial_id"]) == set(summary["trial_id"])
        assert set(metrics["step"]) == set(range(1, spec.epochs + 1)) and "val/score" in set(metrics["key"])
    missing = subprocess.run([sys.executable, "-m", "orchestrator.cli", "db", "export", "--db", url, "--sweep", "99",
                              "--out", str(tmp_path / "none")], capture_output=True, text=True)
    assert missing.returncode == 2 and "no sweep 99" in missing.stderr and not (tmp_path / "none").exists()


def test_asha_stops_trials_early_and_they_are_stored_as_stopped(tmp_path):
    """ASHA with a steep reduction (fixed rates, one trial at a time: deterministic): every trial is
    either complete (all epochs) or stopped with fewer metric rows, and the table takes the best."""
    import textwrap

    from orchestrator.spec import parse_spec
    from orchestrator.tune.run import run_sweep

    spec = parse_spec(textwrap.dedent(f"""
        methods: [superpos_prompt]
        tasks: [sst2]
        m: [8]
        dropout: [off]
        optuna: {{sampler: fixed, rates: {{superpos_prompt: [0.3, 0.0001, 0.05, 0.001, 0.2, 0.01]}}}}
        training: {{epochs: 4, max_train_samples: 48, max_eval_samples: 32, eval_mode: rank}}
        scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
        resources: {{max_concurrent_trials: 1}}
        ray: {{num_cpus: 2, storage_path: {tmp_path / 'ray'}}}
    """))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    run_sweep(spec, url, echo=lambda line: None)
    engine = open_store(url, readonly=True)
    summary = queries.trials_frame(engine)
    epochs = {}
    with Session(engine) as s:
        for t in s.scalars(select(Trial)):
            epochs[t.id] = len(s.scalars(select(Metric.step).where(Metric.trial_id == t.id,
                                                                   Metric.key == "val/score")).all())
    assert len(summary) == 6
    for row in summary.itertuples():
        assert row.state == ("complete" if epochs[row.trial_id] == 4 else "stopped"), (row.state, epochs)
    assert "stopped" in set(summary["state"])  # one study, one at a time: later, worse trials are cut
    table = tables.scores(engine)
    assert len(table) == 1 and table["sst2"].notna().all()


def test_resume_runs_only_the_missing_trials_and_continues_each_study(tmp_path):
    """A sweep that lost trials (one deleted, one left 'running' by a hard crash after its last epoch)
    is finished by `superpos sweep resume`: the crashed trial continues in its own row from its
    checkpoint, the missing one runs, nothing stored is lost."""
    import textwrap

    from sqlalchemy import delete, update

    from db.writer import ResultsWriter
    from orchestrator.spec import parse_spec
    from orchestrator.tune.run import run_sweep

    text = textwrap.dedent(f"""
        methods: [prompt_tuning]
        tasks: [rte]
        dropout: [on, off]
        optuna: {{trials_per_cell: 2}}
        training: {{epochs: 1, max_train_samples: 16, max_eval_samples: 16}}
        ray: {{num_cpus: 1, storage_path: {tmp_path / 'ray'}}}
    """)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    sweep_id = run_sweep(parse_spec(text), url, echo=lambda line: None)
    writer = ResultsWriter(open_store(url))
    with Session(writer.engine) as s, s.begin():
        cells = {c.key: c.id for c in s.scalars(select(Cell))}
        crashed, lost = sorted(cells)
        s.execute(delete(Trial).where(Trial.cell_id == cells[lost], Trial.number == 1))
        s.execute(update(Trial).where(Trial.cell_id == cells[crashed], Trial.number == 1).values(state="running"))
        s.execute(update(Sweep).values(state="interrupted"))
        kept = s.scalar(select(func.count()).select_from(Metric))
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", "resume", str(sweep_id), "--db", url],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "2 trials still to run" in out.stdout and f"sweep {sweep_id}" in out.stdout
    with Session(open_store(url, readonly=True)) as s:
        trials = {(t.cell_id, t.number): t.state for t in s.scalars(select(Trial))}
        assert s.get(Sweep, sweep_id).state == "complete"
        assert s.scalar(select(func.count()).select_from(Metric)) > kept
    assert trials == {(cells[crashed], 0): "complete", (cells[crashed], 1): "complete",
                      (cells[lost], 0): "complete", (cells[lost], 1): "complete"}


def test_resume_of_a_finished_sweep_runs_nothing(tiny_sweep):
    url, sweep_id, *_ = tiny_sweep
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", "resume", str(sweep_id), "--db", url],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "nothing to run" in out.stdout
    assert "Ray" not in out.stdout + out.stderr  # said before any Ray starts
    with Session(open_store(url, readonly=True)) as s:
        assert s.get(Sweep, sweep_id).state == "complete"


def test_a_sweep_records_its_inputs_pinned(tiny_sweep):
    from db import queries
    from workers.inputs import dataset_identity, model_identity
    from workers.tasks import TASKS

    url, sweep_id, *_ = tiny_sweep
    inputs = queries.sweep_details(open_store(url, readonly=True), sweep_id)["inputs"]
    assert inputs["models"] == {"tiny-t5": model_identity("tiny-t5")}
    assert inputs["models"]["tiny-t5"]["kind"] == "embedded" and len(inputs["models"]["tiny-t5"]["sha256"]) == 64
    assert inputs["datasets"] == {"rte": dataset_identity(TASKS["rte"], "demo")}


def test_resume_of_an_unknown_sweep_is_a_clear_error(tiny_sweep):
    url, *_ = tiny_sweep
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", "resume", "999", "--db", url],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no sweep 999" in out.stderr


def test_tune_keeps_result_json_and_writes_no_tensorboard_or_csv_files(tiny_sweep):
    from db.engine import sqlite_path

    url = tiny_sweep[0]
    names = [p.name for p in (sqlite_path(url).parent / "ray").rglob("*") if p.is_file()]
    assert "result.json" in names
    assert not [n for n in names if n.startswith("events.out.tfevents") or n == "progress.csv"]


def test_mlflow_mirrors_every_trial_with_its_epochs(tiny_sweep):
    """spec.tracking.mlflow: one MLflow run per trial, named by cell key and number, with the store's
    per-epoch metrics at the same steps."""
    from mlflow.tracking import MlflowClient
    from sqlalchemy import text

    from db import queries
    from db.engine import sqlite_path

    url, sweep_id, spec, _ = tiny_sweep
    engine = open_store(url, readonly=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{sqlite_path(url).parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(spec.name)
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    trials = queries.read_frame(engine, text("SELECT c.key, t.number, t.id, t.lr FROM trials t JOIN cells c ON "
                                             "c.id = t.cell_id WHERE c.sweep_id = :s"), s=sweep_id)
    assert set(runs) == {f"{r.key} #{r.number}" for r in trials.itertuples()}
    metrics = queries.metrics_frame(engine, sweep_id)
    for row in trials.itertuples():
        run = runs[f"{row.key} #{row.number}"]
        assert run.info.status == "FINISHED" and float(run.data.params["lr"]) == pytest.approx(row.lr)
        history = client.get_metric_history(run.info.run_id, "val/score")
        stored = metrics[(metrics.trial_id == row.id) & (metrics.key == "val/score")]
        assert sorted((h.step, h.value) for h in history) == sorted(zip(stored.step, stored.value))
