"""Learned prompts in the store: every finished prompt-method trial of a real sweep keeps its encoder
prompt at the peak and final epochs and its method's state at the peak (workers/artefacts.py,
db/writer.py); the store's writer on both backends; read back by the notebook API and `db export`."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from sqlalchemy import text

from db import artefacts
from db.engine import open_store
from workers.artefacts import decode, epoch_artefacts


def _rows(url: str, sweep_id: int):
    engine = open_store(url, readonly=True)
    return engine, artefacts.listing(engine, sweep_id)


@pytest.mark.slow  # a real Ray sweep (session fixture)
def test_every_finished_prompt_trial_keeps_its_peak_and_final_prompt_and_its_peak_state(tiny_sweep):
    url, sweep_id, spec, _ = tiny_sweep
    engine, listing = _rows(url, sweep_id)
    with engine.connect() as conn:
        finished = conn.execute(text(
            "SELECT t.id, c.method, c.m, MAX(mt.step) FROM trials t JOIN cells c ON c.id = t.cell_id "
            "JOIN metrics mt ON mt.trial_id = t.id AND mt.key = 'val/score' "
            "WHERE c.sweep_id = :s AND t.state IN ('complete', 'stopped') GROUP BY t.id, c.method, c.m"),
            {"s": sweep_id}).all()
        peaks = dict(conn.execute(text("SELECT trial_id, epoch FROM scores WHERE split = 'val' AND metric = 'score' "
                                       "AND selection = 'peak'")).all())
    assert len(finished) >= 4
    for trial_id, method, m, last_epoch in finished:
        mine = listing[listing["trial_id"] == trial_id]
        names = {sel: set(mine[mine["selection"] == sel]["name"]) for sel in ("peak", "final")}
        assert names["final"] == {"prompt"}
        assert "prompt" in names["peak"] and any(n.startswith("state/") for n in names["peak"])
        assert set(mine[mine["selection"] == "final"]["epoch"]) == {last_epoch}
        assert set(mine[mine["selection"] == "peak"]["epoch"]) == {peaks[trial_id]}
        peak = artefacts.tensors(engine, trial_id, "peak")
        final = artefacts.tensors(engine, trial_id, "final")
        assert peak["prompt"].shape == final["prompt"].shape == (10, 64)  # n tokens x tiny-t5's d_model
        if method == "superpos_prompt":  # the state rebuilds the prompt: p_i = E_i p'_i
            assert peak["state/E"].shape == (10, 64, m) and peak["state/pprime"].shape == (10, m)
            rebuilt = np.einsum("ndm,nm->nd", peak["state/E"], peak["state/pprime"])
            np.testing.assert_allclose(rebuilt, peak["prompt"], rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(peak["state/prompt"], peak["prompt"])
        if peaks[trial_id] == last_epoch:
            np.testing.assert_array_equal(peak["prompt"], final["prompt"])
        else:  # the prompt moved after its peak
            assert not np.array_equal(peak["prompt"], final["prompt"])


@pytest.mark.slow  # a real Ray sweep (session fixture)
def test_stored_bytes_hash_and_shape_describe_each_tensor(tiny_sweep):
    url, sweep_id, _, _ = tiny_sweep
    engine, listing = _rows(url, sweep_id)
    row = listing.iloc[0]
    stored = artefacts.row(engine, int(row["trial_id"]), row["name"], row["selection"])
    data = bytes(stored["data"])
    assert stored["sha256"] == hashlib.sha256(data).hexdigest() and stored["bytes"] == len(data)
    tensor = decode(data)
    assert list(tensor.shape) == json.loads(stored["shape"]) and str(tensor.dtype) == f"torch.{stored['dtype']}"


@pytest.mark.slow  # a real Ray sweep (session fixture)
def test_the_notebook_api_gives_each_reported_trials_prompt(tiny_sweep):
    from db.notebook import Results

    url, sweep_id, _, _ = tiny_sweep
    results = Results(url)
    prompts = results.prompts(sweep_id)
    reported = results.cells(sweep_id)
    assert len(prompts) >= len(reported) > 0
    assert {a.shape for a in prompts["array"]} == {(10, 64)}
    listed = results.artefacts(sweep_id)
    assert {"trial_id", "selection", "name", "epoch", "shape", "bytes", "sha256", "method", "task"} <= set(listed)
    one = results.tensors(int(prompts["trial_id"].iloc[0]))
    np.testing.assert_array_equal(one["prompt"], prompts["array"].iloc[0])


@pytest.mark.slow  # a real Ray sweep (session fixture)
def test_db_export_lists_the_artefacts(tiny_sweep, tmp_path):
    import pandas as pd

    from orchestrator.cli import main

    url, sweep_id, _, _ = tiny_sweep
    assert main(["db", "export", "--db", url, "--sweep", str(sweep_id), "--out", str(tmp_path)]) == 0
    exported = pd.read_csv(tmp_path / "artefacts.csv")
    _, listing = _rows(url, sweep_id)
    assert len(exported) == len(listing) > 0 and "data" not in exported.columns
    # a file as --out: named and kept (was: [Errno 17] File exists)
    assert main(["db", "export", "--db", url, "--out", str(tmp_path / "artefacts.csv")]) == 2
    assert pd.read_csv(tmp_path / "artefacts.csv").equals(exported)


def _prompt_tuning(tiny_model, value: float):
    """A real prompt-tuning module on tiny-t5 whose prompt is all `value`."""
    from workers.assembly import method_context
    from workers.methods import get_method_config
    from workers.methods.modules import build_method

    method = build_method(get_method_config("prompt_tuning", {"n_tokens": 3}), method_context(tiny_model))
    with torch.no_grad():
        method.prompt.fill_(value)
    return method


def test_the_writer_replaces_a_selection_and_keeps_the_other(store, tiny_model):
    url, writer, trial_id = store
    first = epoch_artefacts(_prompt_tuning(tiny_model, 1.0), peak_moved=True)
    assert writer.store_artefacts(trial_id, 1, first) == 3  # final prompt; peak prompt and state
    later = epoch_artefacts(_prompt_tuning(tiny_model, 2.0), peak_moved=False)
    writer.store_artefacts(trial_id, 2, later)  # the peak did not move: only the final prompt changes
    engine = open_store(url, readonly=True)
    assert np.all(artefacts.tensors(engine, trial_id, "peak")["prompt"] == 1.0)
    assert np.all(artefacts.tensors(engine, trial_id, "final")["prompt"] == 2.0)
    listed = artefacts.listing(engine, trial_id=trial_id)
    assert sorted(zip(listed["selection"], listed["epoch"])) == [("final", 2), ("peak", 1), ("peak", 1)]
    writer.store_artefacts(trial_id, 2, later)  # a repeated report (after a resume) changes nothing
    assert len(artefacts.listing(engine, trial_id=trial_id)) == 3
    assert artefacts.listing(engine, sweep_id=999).empty and artefacts.tensors(engine, 12345) == {}


def test_full_finetuning_sends_no_artefacts():
    assert epoch_artefacts(None, peak_moved=True) == {}


@pytest.mark.slow  # a real Ray sweep (session fixture)
def test_the_readmes_cost_figures_are_what_a_trial_stores(tiny_sweep):
    """scripts/artefact_sizes.py (the README's table) counts the bytes a real trial of the sweep stored."""
    from scripts.artefact_sizes import sizes

    url, sweep_id, _, _ = tiny_sweep
    _, listing = _rows(url, sweep_id)
    expected = sizes("tiny-t5", {"m": 8})
    for method in ("prompt_tuning", "superpos_prompt"):
        stored = listing[listing["method"] == method].groupby("trial_id")["bytes"].sum()
        assert set(stored) == {expected[method]["per_trial"]}, method


def test_an_epochs_report_is_stored_whole_or_not_at_all(store, tiny_model):
    """Metrics, checkpoint, snapshots and learned tensors of one epoch in one transaction: a driver
    killed between separate writes once left an epoch's metrics and checkpoint without its peak prompt,
    and the resumed trial (continuing after that epoch, its peak never moving again) never sent it."""
    from sqlalchemy.orm import Session

    from db.models import Trial

    url, writer, trial_id = store
    first = epoch_artefacts(_prompt_tuning(tiny_model, 1.0), peak_moved=True)
    snapshot = {"prompt": {"shape": [1], "dtype": "float32", "values": [1.0]}}
    broken = {**first, "peak": first["peak"] + first["peak"][:1]}  # a name twice: the insert fails at the end
    with pytest.raises(Exception, match="(?i)unique"):
        writer.log_epoch(trial_id, 1, {"val/score": 0.5}, ([trial_id], "/ckpt/checkpoint_000000"), snapshot, broken)
    engine = open_store(url, readonly=True)
    with engine.connect() as conn:
        for table in ("metrics", "snapshots", "artefacts"):
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0, table
    with Session(engine) as s:
        assert s.get(Trial, trial_id).checkpoint is None
    assert writer.log_epoch(trial_id, 1, {"val/score": 0.5}, ([trial_id], "/ckpt/checkpoint_000000"), snapshot,
                            first) == 1
    assert np.all(artefacts.tensors(engine, trial_id, "peak")["prompt"] == 1.0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM snapshots")).scalar() == 1
    with Session(engine) as s:
        assert s.get(Trial, trial_id).checkpoint == "/ckpt/checkpoint_000000"
