"""Sweeps in stages (spec.sources.sweep: this): the cells that train the source prompts run first, the
ATTEMPT cells wait for them and start as soon as each has a chosen trial, in one driver and one Tune
run; kill -9 in either stage resumes without losing or repeating work; a source cell without a
chosen trial blocks its consumers; every bad staged spec is refused before anything runs."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest

from orchestrator.spec import SpecError, parse_spec
from tests.sweep_cli import cli, count, run_and_kill, spec_file

# formatted twice: `data` here, then `storage` (tests/sweep_cli.py spec_file)
STAGED = """
    name: staged
    methods: [prompt_tuning, attempt]
    tasks: [rte, sst2, cb]
    dropout: [off]
    sources: {{{{sweep: this}}}}
    method_params: {{{{attempt: {{{{sources: [rte, sst2]}}}}}}}}
    optuna: {{{{trials_per_cell: 2}}}}
    training: {{{{epochs: 3, batch_size: 8, max_train_samples: 64, max_eval_samples: 16, eval_mode: rank{data}}}}}
    resources: {{{{cpus_per_trial: 1}}}}
    ray: {{{{num_cpus: 2, storage_path: {{storage}}}}}}
"""
ATTEMPT_TRIALS = "SELECT COUNT(*) FROM trials t JOIN cells c ON c.id = t.cell_id WHERE c.method = 'attempt'"
ATTEMPT_EPOCHS = (ATTEMPT_TRIALS.replace("COUNT(*)", "COUNT(DISTINCT t.id)")
                  + " AND EXISTS (SELECT 1 FROM metrics m WHERE m.trial_id = t.id AND m.key = 'val/score')")
SOURCE_EPOCHS = ("SELECT COUNT(*) FROM trials t JOIN cells c ON c.id = t.cell_id WHERE c.task IN ('rte', 'sst2') "
                 "AND t.state = 'running' AND EXISTS (SELECT 1 FROM metrics m WHERE m.trial_id = t.id)")


def _rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow  # real Ray sweeps, kill -9 and resume
def test_a_staged_sweep_waits_for_its_sources_and_resumes_after_kill_9_in_either_stage(tmp_path):
    spec = spec_file(tmp_path, STAGED.format(data=""))
    db = str(tmp_path / "r.db")
    # 1: in the source stage, before any ATTEMPT trial exists
    assert run_and_kill(["sweep", "run", spec, "--db", db], db,
                        f"SELECT CASE WHEN ({SOURCE_EPOCHS}) >= 1 AND ({ATTEMPT_TRIALS}) = 0 THEN 1 ELSE 0 END", 1)
    assert count(db, ATTEMPT_TRIALS) == 0
    status = cli("sweep", "status", 1, "--db", db, "--format", "json")
    cells = {c["key"].split("|")[0] + "|" + c["key"].split("|")[1]: c["state"] for c in json.loads(status.stdout)["cells"]}
    assert cells["attempt|cb"] == "waiting", cells
    # 2: in the ATTEMPT stage, once one of its trials has an epoch
    killed = run_and_kill(["sweep", "resume", 1, "--db", db], db, ATTEMPT_EPOCHS, 1)
    assert killed, f"the resume ended before an ATTEMPT trial had an epoch: {killed!r}"
    out = cli("sweep", "resume", 1, "--db", db)
    assert out.returncode == 0, out.stderr[-3000:]
    assert _rows(db, "SELECT state FROM sweeps") == [("complete",)]
    assert set(_rows(db, "SELECT state FROM trials")) == {("complete",)}
    # the ATTEMPT trials mixed the peak prompts of the source cells' chosen trials, recorded by hash
    chosen = dict(_rows(db, "SELECT b.task, a.sha256 FROM best_trials b JOIN artefacts a ON a.trial_id = b.trial_id "
                            "AND a.name = 'prompt' AND a.selection = 'peak' WHERE b.method = 'prompt_tuning'"))
    for (config,) in _rows(db, "SELECT t.config FROM trials t JOIN cells c ON c.id = t.cell_id WHERE c.method = 'attempt'"):
        config = json.loads(config)
        pins = dict(config["method_params"]["source_sha256"])
        assert pins == {t: chosen[t] for t in ("rte", "sst2")}
        assert {t: p.rsplit("/", 1)[1] for t, p in config["source_prompts"].items()} == {
            t: f"{pins[t]}.safetensors" for t in pins}
    # no ATTEMPT trial started before both source searches had finished
    first = _rows(db, "SELECT MIN(t.started_ms) FROM trials t JOIN cells c ON c.id = t.cell_id WHERE c.method = 'attempt'")
    sources_done = _rows(db, "SELECT MAX(t.finished_ms) FROM trials t JOIN cells c ON c.id = t.cell_id "
                             "WHERE c.method = 'prompt_tuning' AND c.task IN ('rte', 'sst2') AND t.role = 'search'")
    assert first[0][0] >= sources_done[0][0]
    # every epoch stored once per trial (the killed ones went on from their checkpoints)
    for (steps,) in _rows(db, "SELECT GROUP_CONCAT(step) FROM (SELECT trial_id, step FROM metrics WHERE key = 'val/score' "
                              "ORDER BY trial_id, step) GROUP BY trial_id"):
        assert steps == "1,2,3"


@pytest.mark.slow  # a real Ray sweep
def test_a_source_cell_without_a_chosen_trial_blocks_its_consumers(tmp_path, monkeypatch):
    from tests.sweep_cli import data_the_trials_cannot_load

    data = data_the_trials_cannot_load(tmp_path, monkeypatch, "sst2", others=["rte", "cb"])  # every sst2 trial fails
    # one epoch, one trial a cell: what is checked is the block, which the failing sst2 search causes at any
    # size (and each failed trial costs a Ray worker's start)
    spec = spec_file(tmp_path, STAGED.format(data=f", data: {data}").replace("epochs: 3", "epochs: 1")
                     .replace("num_cpus: 2", "num_cpus: 1").replace("trials_per_cell: 2", "trials_per_cell: 1"))
    db = str(tmp_path / "r.db")
    out = cli("sweep", "run", spec, "--db", db)
    assert out.returncode == 1, out.stdout[-2000:]
    assert "attempt|cb|tiny-t5|-|dropout=off: blocked: its source cell for sst2 ended without a chosen trial" in out.stdout
    assert count(db, ATTEMPT_TRIALS) == 0
    assert _rows(db, "SELECT state FROM sweeps") == [("failed",)]
    status = cli("sweep", "status", 1, "--db", db)
    assert "1 blocked" in status.stdout and "blocked: its source cell for sst2" in status.stdout


@pytest.mark.parametrize("change, message", [
    (("methods: [prompt_tuning, attempt]", "methods: [superpos_prompt, attempt]"),
     r"spec.sources.method: prompt_tuning is not in spec.methods"),
    (("tasks: [rte, sst2, cb]", "tasks: [rte, cb]"), r"method_params.attempt.sources: sst2 not in spec.tasks"),
    (("{attempt: {sources: [rte, sst2]}}", "{attempt: {sources: [rte, sst2], n_tokens: 5}}"),
     r"method_params.attempt.n_tokens: 5, but its sources \(prompt_tuning\) have 10 tokens"),
    (("sources: {sweep: this}", "sources: {sweep: this, method: attempt}"),
     r"spec.sources.method: attempt consumes source prompts itself"),
    (("sources: {sweep: this}", "sources: {sweep: this, dropout: on}"), r"spec.sources.dropout: on is not in spec.dropout"),
    (("dropout: [off]", "dropout: [on, off]\nmethod_dropout: {prompt_tuning: [off]}"),
     r"spec.sources.dropout: attempt runs dropout on, but prompt_tuning does not, so those cells would have no source"),
    (("dropout: [off]\nsources: {sweep: this}", "dropout: [on, off]\nmethod_dropout: {prompt_tuning: [off]}\n"
                                                "sources: {sweep: this, dropout: on}"),
     r"spec.sources.dropout: on is not a dropout setting of prompt_tuning's cells \(off\)"),
])
def test_a_bad_staged_spec_is_refused_with_the_key_that_is_wrong(tmp_path, change, message):
    body = textwrap.dedent(STAGED.format(data="")).format(storage=tmp_path).replace(*change)
    with pytest.raises(SpecError, match=message):
        parse_spec(body, "staged.yaml")


def test_the_grid_of_a_staged_spec_leaves_attempt_off_its_source_tasks(tmp_path):
    from orchestrator.spec.plan import expand

    spec = parse_spec(textwrap.dedent(STAGED.format(data="")).format(storage=tmp_path), "staged.yaml")
    cells = expand(spec)
    assert [c.key.split("|")[:2] for c in cells] == [["prompt_tuning", "rte"], ["prompt_tuning", "sst2"],
                                                       ["prompt_tuning", "cb"], ["attempt", "cb"]]
    assert spec.n_cells() == len(cells) == 4 and spec.n_trials() == 8
    attempt = cells[-1]
    assert [t for t, _ in attempt.sources] == ["rte", "sst2"]
    assert [k.split("|")[:2] for _, k in attempt.sources] == [["prompt_tuning", "rte"], ["prompt_tuning", "sst2"]]


def test_a_bound_cells_key_is_shown_with_its_pins_cut_short_and_stored_whole():
    from dataclasses import replace

    from orchestrator.cli.status import format_status
    from orchestrator.spec.plan import SOURCE_SHA256, Cell, readable_key

    pins = (("mnli", "d8a943b2518da625b55a65dd69364d2960f8430f4741dc0f60e0dc210a94fb82"), ("sst2", "0" * 64))
    cell = replace(Cell("attempt", "cb", "tiny-t5", (), False), options=((SOURCE_SHA256, pins),))
    assert pins[0][1] in cell.key
    shown = readable_key(cell.key)
    assert shown == 'attempt|cb|tiny-t5|source_sha256=[["mnli", "d8a943b2518d…"], ["sst2", "000000000000…"]]|dropout=off'
    assert readable_key("prompt_tuning|cb|tiny-t5|-|dropout=off") == "prompt_tuning|cb|tiny-t5|-|dropout=off"
    assert readable_key("a" * 65) == "a" * 65  # only a whole sha256, not a longer run of hex digits
    row = {"key": cell.key, "state": "blocked", "search_done": 0, "replicas_done": 0, "failed": 0, "unfinished": 0,
           "blocked": "blocked: its source cell for sst2 ended without a chosen trial"}
    data = {"sweep": {"id": 1, "name": "s", "state": "failed", "where": "driver x"}, "eta": None, "cells": [row],
            "trials": {"planned": 1, "done": 0, "finished": 0, "failed": 0, "running": 0, "interrupted": 0},
            "cell_states": {"complete": 0, "blocked": 1}}
    text = format_status(data)
    assert text.count(shown) == 2 and pins[0][1] not in text  # the table's row and the block's reason


def test_a_published_source_prompt_is_whole_even_where_an_interrupted_write_left_a_truncated_file(tmp_path):
    """The file a source-mixing trial reads is renamed into place once whole; a truncated one under
    the prompt's name (a driver killed mid-write) is written again instead of being kept."""
    from orchestrator.spec.plan import source_file
    from orchestrator.tune.sources import _publish

    spec = parse_spec(textwrap.dedent(STAGED.format(data="")).format(storage=tmp_path / "ray"))
    stored = {"sha256": "ab" * 32, "data": b"\x01" * 4096}
    path = tmp_path / "ray" / "superpos-sources" / f"{'ab' * 32}.safetensors"
    assert source_file(spec, stored["sha256"]) == str(path)
    path.parent.mkdir(parents=True)
    path.write_bytes(stored["data"][:100])  # what a kill -9 during a plain write leaves
    _publish(spec, stored)
    assert path.read_bytes() == stored["data"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left beside it
    before = path.stat().st_mtime_ns
    _publish(spec, stored)  # whole already: not written again
    assert path.stat().st_mtime_ns == before
