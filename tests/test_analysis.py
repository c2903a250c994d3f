"""What matters across the grid (db/importance.py), the studies exported for Optuna's tools
(db/optuna_export.py) and the notebook API with the README's examples (db/notebook.py)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys

import optuna
import pytest

from db import importance, optuna_export, queries
from db.engine import open_store
from db.writer import ResultsWriter
from tests.cli_here import superpos
from tests.conftest import REPO


def _craft(tmp_path, score, ms=(4, 8), models=("tiny-t5",), noise=0.02) -> tuple[str, int]:
    """A sweep written through the writer: rte, prompt tuning and SuperPos at each m of `ms`, dropout on
    and off, on each of `models`, 3 trials a cell at random rates; a trial scores
    `score(method, m, dropout)` (or `score(method, m, dropout, model)` with two models) plus noise."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = ResultsWriter(open_store(url))
    sweep = writer.create_sweep("c", "name: c", "h", {"versions": {}})
    rng = random.Random(0)
    grid = [("prompt_tuning", None)] + [("superpos_prompt", m) for m in ms]
    for (method, m), dropout, model in [(g, d, x) for g in grid for d in (True, False) for x in models]:
        options = {} if m is None else {"m": m}
        key = f"{method}|{m}|{dropout}|{model}"
        cell = writer.add_cells(sweep, [dict(key=key, method=method, task="rte", model=model, m=m,
                                             options=json.dumps(options), dropout=dropout, seed=0)])[key]
        value = score(method, m, dropout) if len(models) == 1 else score(method, m, dropout, model)
        for number in range(3):
            trial = writer.start_trial(cell, number, f"{key}-{number}", {"seed": 0}, 10 ** rng.uniform(-3, -1), 0.0)
            writer.log_history(trial, {1: {"val/score": 0.2}, 2: {"val/score": value + rng.uniform(-noise, noise)}})
            writer.finish_trial(trial, "stopped" if number == 2 else "complete")
    return url, sweep


@pytest.fixture
def crafted(tmp_path):
    """rte's score set by dropout alone (and noise)."""
    return _craft(tmp_path, lambda method, m, dropout: 0.3 if dropout else 0.8)


def _scopes(found) -> dict[str, dict[str, float]]:
    return {scope: dict(zip(rows["param"], rows["importance"])) for scope, rows in found.groupby("scope")}


def test_importance_finds_the_dimension_that_sets_the_score(crafted):
    url, sweep = crafted
    found = importance.per_task(open_store(url, readonly=True), sweep)
    scopes = _scopes(found)
    assert set(scopes) == {"all", "superpos_prompt"}
    assert set(scopes["all"]) == {"method", "dropout", "lr"} and set(scopes["superpos_prompt"]) == {"m", "dropout", "lr"}
    assert set(found[found["scope"] == "all"]["trials"]) == {18} and set(found[found["scope"] != "all"]["trials"]) == {12}
    for shares in scopes.values():
        assert sum(shares.values()) == pytest.approx(1.0)
        assert max(shares, key=shares.get) == "dropout" and shares["dropout"] > 0.9


@pytest.mark.parametrize("ms", [(4, 8), (8,)])
def test_an_option_takes_no_share_of_its_methods_effect(tmp_path, ms):
    """The score is set by the method alone: m, which exists for SuperPos only, names the method, so a
    study over both took a share of the method's effect for m (0.22 with two m, 0.48 with one)."""
    url, sweep = _craft(tmp_path, lambda method, m, dropout: 0.3 if method == "prompt_tuning" else 0.8, ms)
    scopes = _scopes(importance.per_task(open_store(url, readonly=True), sweep))
    assert "m" not in scopes["all"] and scopes["all"]["method"] > 0.95
    assert set(scopes) == ({"all", "superpos_prompt"} if len(ms) > 1 else {"all"})


def test_an_option_that_sets_the_score_within_its_method_is_found_there(tmp_path):
    url, sweep = _craft(tmp_path, lambda method, m, dropout: {None: 0.3, 4: 0.5, 8: 0.8}[m])
    scopes = _scopes(importance.per_task(open_store(url, readonly=True), sweep))
    assert scopes["superpos_prompt"]["m"] > 0.9 and scopes["all"]["method"] > 0.5


def test_the_model_is_a_dimension_where_a_sweep_has_two(tmp_path):
    """Without it, the larger model's lead was variance no dimension held, for fANOVA to pin on others."""
    url, sweep = _craft(tmp_path, lambda method, m, dropout, model: 0.8 if model == "base" else 0.3,
                        models=("small", "base"))
    scopes = _scopes(importance.per_task(open_store(url, readonly=True), sweep))
    assert set(scopes["all"]) == {"method", "model", "dropout", "lr"} and scopes["all"]["model"] > 0.9
    assert set(scopes["superpos_prompt"]) == {"m", "model", "dropout", "lr"} and scopes["superpos_prompt"]["model"] > 0.9


def _matters_page() -> None:  # AppTest runs a function's source as a script
    from dashboard.views import matters

    matters.page()


def test_a_task_whose_trials_all_scored_the_same_is_named_not_a_traceback(tmp_path, monkeypatch):
    """A small model that answers one label at every rate: fANOVA raised "Encountered zero total
    variance in all trees" out of `superpos importance` and the dashboard's page."""
    from streamlit.testing.v1 import AppTest

    url, sweep = _craft(tmp_path, lambda method, m, dropout: 0.5, noise=0)
    engine = open_store(url, readonly=True)
    assert importance.per_task(engine, sweep).empty
    same = importance.same_scores(engine, sweep)
    assert same.to_dict("records") == [{"task": "rte", "scope": "all", "score": 50.0, "trials": 18},
                                       {"task": "rte", "scope": "superpos_prompt", "score": 50.0, "trials": 12}]
    out = superpos("importance", "--db", url)
    assert out.returncode == 0 and "rte (all): all 18 trials scored 50.0, so no dimension explains" in out.stdout
    assert json.loads(superpos("importance", "--db", url, "--format", "json").stdout)["same_score"][1]["trials"] == 12
    monkeypatch.setenv("SUPERPOS_DB", url)
    page = AppTest.from_function(_matters_page, default_timeout=60).run()
    assert not page.exception and "Every trial scored the same in rte (all): all 18 trials scored 50.0" in page.info[0].value


def test_the_chart_names_each_bars_scope_and_keeps_a_scope_together(crafted):
    from dashboard.charts import importance_chart

    url, sweep = crafted
    spec = importance_chart(importance.per_task(open_store(url, readonly=True), sweep)).to_dict()
    rows = sorted(next(iter(spec["datasets"].values())), key=lambda r: r["order"])
    labels = [r["dimension"] for r in rows]
    assert labels[:3] == sorted(labels[:3], key=lambda d: -next(r["importance"] for r in rows if r["dimension"] == d))
    assert set(labels[:3]) == {"method", "dropout", "lr"}
    assert set(labels[3:]) == {"m (within superpos_prompt)", "dropout (within superpos_prompt)",
                               "lr (within superpos_prompt)"}
    assert spec["encoding"]["color"]["field"] == "scope" and spec["resolve"] == {"scale": {"y": "independent"}}
    assert spec["encoding"]["y"]["sort"] == {"field": "order", "op": "min"}


def test_the_exported_studies_open_in_optuna_with_the_stores_trials(crafted, tmp_path):
    url, sweep = crafted
    engine = open_store(url, readonly=True)
    out = tmp_path / "studies.db"
    written = optuna_export.export(engine, sweep, str(out), url)
    assert len(written) == 6 and set(written.values()) == {3}
    summaries = optuna.get_all_study_summaries(f"sqlite:///{out}")
    cells = queries.cell_results(engine, sweep)
    for summary in summaries:
        study = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{out}")
        states = [t.state for t in study.trials]
        assert states.count(optuna.trial.TrialState.PRUNED) == 1 and len(states) == 3
        top = max(study.trials, key=lambda t: (t.value, -t.user_attrs["number"]))  # PRUNED ones count here
        chosen = cells[cells["chosen_trial_id"] == top.user_attrs["trial_id"]]
        assert len(chosen) == 1 and top.value == pytest.approx(chosen["objective"].item())
        assert top.params["lr"] == pytest.approx(chosen["lr"].item())
        assert set(top.intermediate_values) == {1, 2}
    with pytest.raises(ValueError, match="already holds a study named"):
        optuna_export.export(engine, sweep, str(out), url)
    with pytest.raises(ValueError, match="is the results store"):
        optuna_export.export(engine, sweep, url, url)
    other = tmp_path / "other.db"
    ResultsWriter(open_store(f"sqlite:///{other}"))
    with pytest.raises(ValueError, match="a database of another kind"):
        optuna_export.export(engine, sweep, str(other), url)


@pytest.mark.parametrize("case", ["folder", "no folder", "text file", "damaged sqlite"])
def test_an_optuna_out_path_that_cannot_hold_a_storage_is_named_and_left_as_it_was(crafted, tmp_path, case):
    url, sweep = crafted
    out = {"folder": tmp_path, "no folder": tmp_path / "missing" / "studies.db",
           "text file": tmp_path / "notes.txt", "damaged sqlite": tmp_path / "half.db"}[case]
    before = {"text file": b"my notes\n", "damaged sqlite": b"SQLite format 3\x00" + b"\x00" * 10}.get(case)
    if before is not None:
        out.write_bytes(before)
    match = {"folder": "is a folder; give the Optuna storage a file inside it",
             "no folder": "does not exist; create it", "text file": "not an SQLite database; it was left untouched",
             "damaged sqlite": "cannot be opened as an Optuna storage .file is not a database"}[case]
    with pytest.raises(ValueError, match=match):
        optuna_export.export(open_store(url, readonly=True), sweep, str(out), url)
    if before is not None:
        assert out.read_bytes() == before
    assert not (tmp_path / "missing").exists()


def _readme_examples() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(# notebook example.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_the_readmes_notebook_examples_run_on_a_real_sweep(rich_sweep, tmp_path):
    url, sweep_id = rich_sweep
    examples = _readme_examples()
    assert len(examples) >= 1
    for code in examples:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "SUPERPOS_DB": url, "PYTHONPATH": str(REPO)})
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr and run.stdout.strip()


@pytest.mark.slow
def test_importance_and_export_of_a_real_sweep(rich_sweep, tmp_path):
    from db.notebook import Results

    url, sweep_id = rich_sweep
    results = Results(url)
    found = results.importance(sweep_id)
    assert set(found["task"]) == {"rte", "sst2"}
    assert {"method", "lr"} <= set(found[found["scope"] == "all"]["param"]) and "dropout" not in set(found["param"])
    assert "m" in set(found[found["scope"] == "superpos_prompt"]["param"])  # two m; dropout: off only
    for _, rows in found.groupby(["task", "scope"]):
        assert rows["importance"].sum() == pytest.approx(1.0)
    shape = json.loads(superpos("importance", "--db", url, "--format", "json").stdout)
    assert shape["sweep"] == sweep_id and len(shape["rows"]) == len(found)
    out = tmp_path / "s.db"
    written = optuna_export.export(open_store(url, readonly=True), sweep_id, str(out), url)
    trials = results.trials(sweep_id)
    assert sum(written.values()) == int(((trials["role"] == "search") & trials["state"].isin(
        ["complete", "stopped", "failed"])).sum())
    assert len(results.cells(sweep_id)) == len(written) and not results.table(sweep_id).empty


def test_tracking_without_mlflow_installed_is_a_clear_error(monkeypatch):
    from orchestrator.tune.tracking import check_mlflow

    assert check_mlflow() is None
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    assert "pip install 'superpos[tracking]'" in check_mlflow()
