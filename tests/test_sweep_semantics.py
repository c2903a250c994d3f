"""Sweeps at paper scale, in small: per-cell early stopping, resume after kill -9 that never repeats,
honest failure, fail-fast checks, seeds as replicas, option grids. Real Ray, real SQLite."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import queries
from db.engine import open_store
from db.models import Cell, Sweep, Trial
from orchestrator.spec import SpecError, load_spec
from orchestrator.tune.run import run_sweep
from tests.conftest import REPO
from tests.sweep_cli import (
    CLI,
    FINISHED,
    RUNNING_WITH_AN_EPOCH,
    cli,
    count,
    data_the_trials_cannot_load,
    first_reported,
    interrupted_with_checkpoint,
    run_and_kill,
    run_spec,
    spec_file,
    tune_runs,
    wait_while_running,
)

pytestmark = pytest.mark.slow  # real Ray sweeps, kill -9 and resume


def test_kill_9_of_packed_trials_at_three_points_then_resume_loses_and_repeats_nothing(tmp_path):
    spec = spec_file(tmp_path, """
        methods: [prompt_tuning, superpos_prompt]
        tasks: [rte]
        m: [8]
        dropout: [off]
        seeds: [0, 1]
        optuna: {{trials_per_cell: 3}}
        training: {{epochs: 4, batch_size: 8, max_train_samples: 64, max_eval_samples: 16, eval_mode: rank}}
        resources: {{pack_size: 2}}
        ray: {{num_cpus: 1, storage_path: {storage}}}
    """)
    db = str(tmp_path / "r.db")
    # packs of two (the solo path's resume is the cluster test's); 1: mid-trial, before anything finished; 2 and 3: during resumes, after more trials finished
    storage = tmp_path / "ray"

    def continued(stored: dict, every: bool = False) -> None:
        """Each interrupted member that the last run started (`every`: all of them) began at the epoch
        after its stored ones."""
        first = first_reported(storage, tune_runs(storage)[-1])
        seen = {key: first[key] for key in stored if key in first}
        assert seen == {key: min(stored[key] + 1, 4) for key in (stored if every else seen)}, (stored, first)

    assert run_and_kill(["sweep", "run", spec, "--db", db], db, RUNNING_WITH_AN_EPOCH, 1)
    assert count(db, FINISHED) == 0
    for target in (2, 5):
        before, stored = count(db, FINISHED), interrupted_with_checkpoint(db)
        killed = run_and_kill(["sweep", "resume", 1, "--db", db], db,
                               f"SELECT CASE WHEN ({FINISHED}) >= {max(target, before + 1)} AND "
                               f"({RUNNING_WITH_AN_EPOCH}) >= 1 THEN 1 ELSE 0 END", 1)
        assert killed, f"the resume ended before it could be killed: {killed!r}"
        continued(stored)
    stored = interrupted_with_checkpoint(db)
    out = cli("sweep", "resume", 1, "--db", db)
    assert out.returncode == 0, out.stderr[-3000:]
    assert stored
    continued(stored, every=True)

    engine = open_store(f"sqlite:///{db}", readonly=True)
    with Session(engine) as s:
        assert s.get(Sweep, 1).state == "complete"
        for cell in s.scalars(select(Cell)):
            trials = cell.trials
            search = [t for t in trials if t.role == "search"]
            replicas = [t for t in trials if t.role == "replica"]
            assert len(search) == 3 and len(replicas) == 1, [(t.number, t.role, t.state) for t in trials]
            assert {t.state for t in trials} == {"complete"}
            assert len({t.lr for t in search}) == 3  # no rate tried twice
            assert sorted(t.number for t in trials) == list(range(4))
            for t in trials:  # each row was written by the trial it describes
                config = json.loads(t.config)
                assert (config["lr"], config["seed"]) == (t.lr, t.seed)
            best = max(search, key=lambda t: (t.objective, -t.number))
            assert replicas[0].lr == best.lr and replicas[0].seed == 1
    # interrupted trials went on from their checkpoint: every epoch stored once, 1..4
    with sqlite3.connect(db) as conn:
        packed = conn.execute("SELECT COUNT(*) FROM trials WHERE ray_trial_id LIKE '%/%'").fetchone()[0]
        assert packed >= 4  # members of packs: '<Tune trial>/<index>'

        steps = conn.execute("SELECT trial_id, GROUP_CONCAT(step) FROM (SELECT trial_id, step FROM metrics "
                             "WHERE key = 'val/score' ORDER BY trial_id, step) GROUP BY trial_id").fetchall()
    assert steps and all(s == "1,2,3,4" for _, s in steps)


def test_a_sweep_whose_trials_all_fail_is_failed_and_exits_non_zero(tmp_path, monkeypatch):
    """A task whose data no trial can load: every trial fails at load, and again on its retry; the
    sweep is failed, each failure is stored with its traceback, and no score is written for it. One
    trial: each failed attempt costs a Ray worker's start (Tune ends an actor that raised)."""
    data = data_the_trials_cannot_load(tmp_path, monkeypatch, "rte")
    spec = spec_file(tmp_path, f"""
        methods: [prompt_tuning]
        tasks: [rte]
        dropout: [off]
        optuna: {{{{trials_per_cell: 1}}}}
        training: {{{{epochs: 1, data: {data}}}}}
        resources: {{{{retries: 1}}}}
        ray: {{{{num_cpus: 1, storage_path: {{storage}}}}}}
    """)
    db = tmp_path / "r.db"
    out = cli("sweep", "run", spec, "--db", db)
    assert out.returncode == 1, (out.stdout[-2000:], out.stderr[-2000:])
    assert "Trial task failed" not in out.stderr and out.stderr.count("Traceback") == 0
    assert "failed trials, by cell" in out.stdout and "prompt_tuning|rte" in out.stdout
    assert sum("FAILED: " in line for line in out.stdout.splitlines()) == 1
    with Session(open_store(f"sqlite:///{db}", readonly=True)) as s:
        assert s.get(Sweep, 1).state == "failed"
        trials = s.scalars(select(Trial)).all()
        assert len(trials) == 1 and {t.state for t in trials} == {"failed"}
        for t in trials:
            assert t.failures == 2  # the first attempt and one retry
            assert t.error.startswith("Traceback (most recent call last)") and "\x1b[" not in t.error
            assert "could not load" in t.error and "/rte/train.parquet" in t.error and "FileExistsError" in t.error
    assert count(str(db), "SELECT COUNT(*) FROM scores") == 0  # no score is written for a failed trial
    # the same failure budget on resume: nothing has retries left, so nothing runs again
    again = cli("sweep", "resume", 1, "--db", db)
    assert again.returncode == 1 and "nothing to run" in again.stdout


def test_each_cell_keeps_its_best_trial_to_the_last_epoch_under_asha(tmp_path):
    """Two tasks on very different score scales (CoLA's MCC near 0, SST-2's accuracy near 0.5): one
    ASHA for the whole run stopped CoLA's best trial on SST-2's scores."""
    _, db = run_spec(tmp_path, """
        methods: [prompt_tuning]
        tasks: [sst2, cola]
        dropout: [off]
        optuna: {{trials_per_cell: 5, lr: {{prompt_tuning: [0.001, 0.5]}}}}
        training: {{epochs: 3, batch_size: 16, max_train_samples: 32, max_eval_samples: 32, eval_mode: rank}}
        scheduler: {{type: asha, grace_period: 1, reduction_factor: 3}}
        resources: {{max_concurrent_trials: 2}}
        ray: {{num_cpus: 2, storage_path: {storage}}}
    """)
    engine = open_store(f"sqlite:///{db}", readonly=True)
    best = queries.best_trials(engine, 1)
    assert len(best) == 2 and set(best["state"]) == {"complete"}, best[["task", "state", "objective"]]
    summary = queries.trials_frame(engine, 1)
    for task, rows in summary.groupby("task"):  # within a cell, no stopped trial beats a complete one
        complete = rows[rows.state == "complete"]["objective"].max()
        assert (rows[rows.state == "stopped"]["objective"] <= complete).all(), task


def test_seeds_replicate_the_chosen_rate_over_an_option_grid(tmp_path):
    _, db = run_spec(tmp_path, """
        methods: [superpos_prompt]
        tasks: [rte]
        m: [4]
        dropout: [off]
        seeds: [0, 1, 2]
        method_grid: {{superpos_prompt: {{softmax: [false, true]}}}}
        optuna: {{trials_per_cell: 2}}
        training: {{epochs: 1, batch_size: 16, max_train_samples: 32, max_eval_samples: 32, eval_mode: rank}}
        ray: {{num_cpus: 1, storage_path: {storage}}}
    """)
    engine = open_store(f"sqlite:///{db}", readonly=True)
    trials = queries.trials_frame(engine, 1)
    assert len(trials) == 2 * (2 + 2)  # 2 cells x (2 search + 2 replicas)
    for _, rows in trials.groupby("cell_id"):
        search, replicas = rows[rows.role == "search"], rows[rows.role == "replica"]
        assert set(search["seed"]) == {0} and sorted(replicas["seed"]) == [1, 2]
        chosen = search.sort_values(["objective", "number"], ascending=[False, True]).iloc[0]
        assert set(replicas["lr"]) == {chosen["lr"]}
        assert set(replicas["replica_of"]) == {chosen["trial_id"]}  # each replica names its chosen trial
    cells = queries.cell_results(engine, 1)
    assert sorted(cells["options"]) == ["softmax=false", "softmax=true"] and set(cells["n_seeds"]) == {3}
    assert cells["score_std"].notna().all()
    from db import formats
    from db import tables as paper_tables

    scores = paper_tables.sweep_scores(engine, 1)
    assert len(scores) == 2 and set(scores["n"]) == {3} and scores["std"].notna().all()

    text = formats.render(*paper_tables.build(engine, "main", 1), "text")
    assert "±" in text and "softmax=true" in text


# before_store: refused before the store opens (a new --db file is not even created); on a local Ray the
# GPU checks come before it too (preflight.check_local_gpus); only a cluster's need Ray's view of it
@pytest.mark.parametrize("body, message, before_store", [
    # counted as Ray will count them, before it starts (it used to start Ray, then ask its node: ~10 s)
    ("resources: {gpus_per_trial: 1}", r"spec.resources.gpus_per_trial: 1 but no node has that many GPUs \(this "
                                       r"machine: 0 GPUs, as Ray detects them\)", True),
    ("resources: {gpus_per_trial: 0.25}", r"spec.resources.gpus_per_trial: 0.25 but no node", True),
    ("resources: {gpus_per_trial: 2}\nray: {num_gpus: 1}", r"gpus_per_trial: 2 but no node has that many GPUs \(this "
                                                          r"machine: 1 GPUs \(spec.ray.num_gpus\)\)", True),
    ("models: [tiny-t6]", r"spec.models\[0\]: 'tiny-t6' not in the local Hugging Face cache.*did you mean 'tiny-t5'", True),
    ("models: [EMPTY]", r"spec.models\[0\]: .* has no config.json and weights", True),
    ("training: {data: hub}", r"spec.training.data: hub datasets not in the local cache while offline: rte", True),
    ("ray: {address: '127.0.0.1:PORT'}", r"spec.ray.address: cannot reach 127.0.0.1:", True),
    # MLflow's client retried for ~4 minutes, then a traceback, and the store kept a failed sweep
    ("tracking: {mlflow: {tracking_uri: 'http://127.0.0.1:PORT'}}",
     r"spec.tracking.mlflow.tracking_uri: cannot reach http://127.0.0.1:\d+ \(Connection refused\)", True),
    ("ray: {num_cpus: 2, storage_path: AFILE}", r"spec.ray.storage_path: .* is a file, not a folder", True),
    # it passed every check, then Tune said "URI has empty scheme" and the store kept a failed sweep
    ("ray: {num_cpus: 2, storage_path: rayrel}", r"spec.ray.storage_path: 'rayrel' is a relative path, which Tune "
                                                 r"cannot take: give an absolute one \(from here: /.*/rayrel\)", True),
])
def test_what_cannot_run_fails_in_seconds_and_leaves_no_sweep(tmp_path, body, message, before_store):
    import re

    (tmp_path / "empty").mkdir()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "a-file").write_text("")
    body = body.replace("EMPTY", str(tmp_path / "empty")).replace("PORT", str(port)).replace("AFILE", str(tmp_path / "a-file"))
    if "ray:" not in body:
        body += f"\nray: {{num_cpus: 2, storage_path: {tmp_path / 'ray'}}}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"methods: [prompt_tuning]\ntasks: [rte]\n{body}\n")
    db = tmp_path / "r.db"
    started = time.monotonic()
    out = cli("sweep", "run", spec, "--db", db, timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert re.search(message, out.stderr), out.stderr
    assert time.monotonic() - started < 110  # it ended by itself (the timeout above would raise)
    assert db.exists() != before_store
    if before_store:  # and a store that exists gets no sweep either (in-process: the same checks, no interpreter start)
        open_store(f"sqlite:///{db}")
        with pytest.raises(SpecError, match=message):
            run_sweep(load_spec(str(spec)), f"sqlite:///{db}", echo=lambda _: None)
    assert count(str(db), "SELECT COUNT(*) FROM sweeps") == 0


def test_tune_runs_are_named_per_store_and_sweep():
    from orchestrator.tune.run import run_name

    assert run_name("sqlite:////a/x.db", 1).split("-")[1] != run_name("sqlite:////b/x.db", 1).split("-")[1]
    assert "sweep7" in run_name("sqlite:////a/x.db", 7)


def test_cancel_stops_a_local_run_which_is_stored_cancelled_and_resumes(tmp_path):
    spec = spec_file(tmp_path, """
        methods: [prompt_tuning]
        tasks: [rte]
        dropout: [off]
        optuna: {{trials_per_cell: 4}}
        training: {{epochs: 6, batch_size: 16, max_train_samples: 64, max_eval_samples: 16, eval_mode: rank}}
        ray: {{num_cpus: 1, storage_path: {storage}}}
    """)
    db = str(tmp_path / "r.db")
    run = subprocess.Popen([*CLI, "sweep", "run", spec, "--db", db], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        wait_while_running(run, lambda: count(db, RUNNING_WITH_AN_EPOCH) >= 1)
        out = cli("sweep", "cancel", 1, "--db", db)
        assert out.returncode == 0, out.stderr
        assert "sent SIGTERM to the sweep's driver" in out.stdout and "sweep 1 is cancelled" in out.stdout
        assert run.wait(60) == 130
    finally:
        if run.poll() is None:
            run.kill()
    assert count(db, "SELECT COUNT(*) FROM trials WHERE state = 'interrupted'") >= 1
    again = cli("sweep", "cancel", 1, "--db", db)
    assert again.returncode == 2 and "not running (it is cancelled)" in again.stderr
    resumed = cli("sweep", "resume", 1, "--db", db)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert count(db, "SELECT COUNT(*) FROM trials WHERE state = 'complete'") == 4


def test_a_sweep_planned_by_an_earlier_version_is_not_resumed_into_new_cells(tmp_path):
    """Cell keys of the previous version carried the seed; resuming would quietly start over."""
    from db.writer import ResultsWriter

    spec_text = "methods: [prompt_tuning]\ntasks: [rte]\ndropout: [on]\n"
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = ResultsWriter(open_store(url))
    sweep = writer.create_sweep("old", spec_text, "h", {"versions": {}})
    old_key = "prompt_tuning|rte|tiny-t5|m=-|dropout=on|seed=0"
    cell = writer.add_cells(sweep, [dict(key=old_key, method="prompt_tuning", task="rte", model="tiny-t5", m=None,
                                         dropout=True, seed=0)])[old_key]
    trial = writer.start_trial(cell, 0, "ray-0", {"seed": 0}, 0.1, 0.01)
    writer.finish_trial(trial, "interrupted")
    writer.finish_sweep(sweep, "interrupted")
    out = cli("sweep", "resume", sweep, "--db", url)
    assert out.returncode == 2 and "planned by an earlier superpos" in out.stderr
    assert count(str(tmp_path / "r.db"), "SELECT COUNT(*) FROM cells") == 1

