"""ATTEMPT in a sweep: its cells consume the prompts an earlier sweep in the store published (each
source cell's chosen trial at its peak), pin them by sha256, and every bad source is refused
before anything runs, leaving no sweep behind."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time

import pytest
from sqlalchemy import text

from db import artefacts, queries
from db.engine import open_store
from orchestrator.cli.status import format_status, status_data
from orchestrator.spec import SpecError, parse_spec
from orchestrator.tune.run import run_sweep

ATTEMPT = """
name: attempt-demo
methods: [attempt]
tasks: [cb]
dropout: [off]
method_params: {{attempt: {{sources: {sources}, n_tokens: {n}}}}}
sources: {{sweep: {sweep}}}
optuna: {{trials_per_cell: 1}}
training: {{epochs: 2, batch_size: 16, max_train_samples: 24, max_eval_samples: 16, eval_mode: rank}}
resources: {{cpus_per_trial: 1}}
ray: {{num_cpus: 2, storage_path: {storage}}}
"""


def _spec(tmp_path, sources="[rte, sst2]", n=10, sweep="rich"):
    return parse_spec(textwrap.dedent(ATTEMPT.format(sources=sources, n=n, sweep=sweep, storage=tmp_path / "ray")),
                      "attempt.yaml")


@pytest.fixture
def store(rich_sweep, tmp_path):
    """A copy of the rich sweep's store (prompt tuning on rte and sst2, dropout off): the source sweep."""
    url, sweep_id = rich_sweep
    copy = tmp_path / "store.db"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # with its write-ahead log
    return f"sqlite:///{copy}", sweep_id


@pytest.mark.slow  # a real Ray sweep
def test_attempt_cells_consume_the_published_prompts_of_an_earlier_sweep(store, tmp_path):
    url, source_id = store
    said: list[str] = []
    sweep_id = run_sweep(_spec(tmp_path), url, echo=said.append)
    engine = open_store(url, readonly=True)
    assert queries.sweep_details(engine, sweep_id)["state"] == "complete"
    with engine.connect() as conn:
        cell = conn.execute(text("SELECT key, options FROM cells WHERE sweep_id = :s"), {"s": sweep_id}).one()
        config = json.loads(conn.execute(text("SELECT t.config FROM trials t JOIN cells c ON c.id = t.cell_id "
                                              "WHERE c.sweep_id = :s"), {"s": sweep_id}).scalar())
    pins = dict(json.loads(cell.options)["source_sha256"])
    chosen = queries.best_trials(engine, source_id)
    for task in ("rte", "sst2"):  # the chosen prompt tuning trial of each source task, at its peak
        trial = chosen[(chosen["method"] == "prompt_tuning") & (chosen["task"] == task)]["trial_id"].iloc[0]
        assert pins[task] == artefacts.row(engine, int(trial), "prompt", "peak")["sha256"]
        assert config["source_prompts"][task].endswith(f"{pins[task]}.safetensors")
    assert pins["rte"] in cell.key  # other sources would make another cell
    # people read the pins' first 12 hex digits: in the progress lines and in `sweep status`; the store keeps them whole
    for lines in (said, format_status(status_data(engine, sweep_id)).splitlines()):
        shown = [line for line in lines if "attempt|cb|tiny-t5|source_sha256=" in line]
        assert shown and all(f'"{pins["rte"][:12]}…"' in line and pins["rte"] not in line for line in shown), lines
    listed = artefacts.listing(engine, sweep_id)
    assert {"prompt", "state/sources", "state/down.weight"} <= set(listed["name"])
    results = queries.cell_results(engine, sweep_id)
    assert list(results["method"]) == ["attempt"] and results["options"].iloc[0] == ""  # the pins stay out of labels


@pytest.mark.parametrize("kwargs, message", [
    (dict(sweep="nope"), r"spec.sources.sweep: no sweep 'nope' in this store"),
    (dict(sources="[qqp]"), r"spec.sources: sweep \d+ has no prompt_tuning cell with a chosen trial for qqp on tiny-t5"),
    (dict(n=5), r"the rte prompt of sweep \d+ has 10 tokens, but method_params.attempt.n_tokens is 5"),
])
@pytest.mark.slow  # uses the rich sweep's store
def test_bad_sources_are_refused_in_seconds_and_leave_no_sweep(store, tmp_path, kwargs, message):
    url, _ = store
    before = len(queries.list_sweeps(open_store(url, readonly=True)))
    started = time.monotonic()
    with pytest.raises(SpecError, match=message):
        run_sweep(_spec(tmp_path, **kwargs), url, echo=lambda _: None)
    assert time.monotonic() - started < 30  # before Ray starts
    assert len(queries.list_sweeps(open_store(url, readonly=True))) == before


def test_sources_in_a_store_that_does_not_exist_are_refused_without_creating_it(tmp_path):
    from db.engine import StoreError

    missing = tmp_path / "elsewhere.db"
    with pytest.raises(StoreError, match=r"no results database at .*elsewhere.db.*point --db"):
        run_sweep(_spec(tmp_path), f"sqlite:///{missing}", echo=lambda _: None)
    assert not missing.exists()


@pytest.mark.slow  # uses the rich sweep's store
def test_a_source_trial_without_a_stored_prompt_is_refused_with_how_to_train_one(store, tmp_path):
    """A store from a version before prompts were stored: the chosen trial is there, its prompt is not."""
    url, source_id = store
    engine = open_store(url)
    chosen = queries.best_trials(engine, source_id)
    trial = int(chosen[(chosen["method"] == "prompt_tuning") & (chosen["task"] == "sst2")]["trial_id"].iloc[0])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM artefacts WHERE trial_id = :t"), {"t": trial})
    with pytest.raises(SpecError, match=rf"the chosen trial {trial} of sst2 in sweep {source_id} has no stored prompt "
                                        r".*a sweep of prompt_tuning on sst2, named in spec.sources.sweep, or "
                                        r"sources: \{sweep: this\}"):
        run_sweep(_spec(tmp_path), url, echo=lambda _: None)
    assert len(queries.list_sweeps(open_store(url, readonly=True))) == 1  # the source sweep only


def test_a_spec_needs_sources_exactly_when_a_method_mixes_them(tmp_path):
    body = textwrap.dedent(ATTEMPT.format(sources="[rte]", n=10, sweep=1, storage=tmp_path))
    with pytest.raises(SpecError, match=r"spec.sources: attempt mixes source prompts trained before"):
        parse_spec("\n".join(line for line in body.splitlines() if not line.startswith("sources")), "a.yaml")
    with pytest.raises(SpecError, match=r"spec.sources: no method of spec.methods takes source prompts"):
        parse_spec(body.replace("methods: [attempt]", "methods: [prompt_tuning]")
                   .replace("method_params: {attempt: {sources: [rte], n_tokens: 10}}", ""), "b.yaml")
    assert parse_spec(body, "c.yaml").sources.sweep == 1


@pytest.mark.slow  # uses the rich sweep's store
def test_sweep_validate_checks_the_sources_against_the_store_and_writes_nothing(store, tmp_path, capsys):
    from orchestrator.cli import main

    url, _ = store
    for sweep, code in (("rich", 0), ("nope", 2)):
        spec = tmp_path / f"{sweep}.yaml"
        spec.write_text(textwrap.dedent(ATTEMPT.format(sources="[rte, sst2]", n=10, sweep=sweep,
                                                       storage=tmp_path / "ray")))
        assert main(["sweep", "validate", str(spec), "--db", url]) == code
    assert "spec.sources.sweep: no sweep 'nope' in this store" in capsys.readouterr().err
    assert not (tmp_path / "ray").exists()  # no source files written by a check
