"""The paper's tables (db/tables.py, `superpos table`): from the paper's own numbers they reproduce its
Tables 1 and 2; from a store they show a/b metrics, daggers, seeds and the comparison with the paper."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from db import queries, tables
from db.engine import open_store
from db.reference import import_reference
from db.writer import ResultsWriter
from tests.cli_here import superpos


@pytest.fixture
def paper_store(tmp_path):
    """A store that holds only the imported paper numbers (no sweep)."""
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    import_reference(open_store(url))
    return url


def _cli(*args):
    return superpos(*args)


def test_paper_source_reproduces_table2_and_the_table1_averages(paper_store):
    out = _cli("table", "--db", paper_store, "--source", "paper", "--kind", "standardized", "--format", "csv")
    assert out.returncode == 0, out.stderr
    ours = pd.read_csv(io.StringIO(out.stdout))
    engine = open_store(paper_store, readonly=True)
    published = queries.reference_results(engine, "paper_table2").pivot_table(
        index=["model", "method", "dropout"], columns="metric", values="value")
    assert len(ours) == len(published) == 14
    for row in ours.itertuples():
        assert row.dropout in ("on", "off")  # labelled as the text table labels it
        paper = published.loc[(row.model, row.method, row.dropout)]
        assert row.standardized_mean == pytest.approx(paper["mean"], abs=0.1)
        assert row.standardized_std == pytest.approx(paper["std"], abs=0.1)
    main = pd.read_csv(io.StringIO(_cli("table", "--db", paper_store, "--source", "paper", "--format", "csv").stdout))
    averages = queries.reference_results(engine, "paper_table1_averages")
    for row in averages.itertuples():
        got = main[(main.model == row.model) & (main.method == row.method) & (main.dropout == row.dropout)]
        assert got["average"].item() == pytest.approx(row.value, abs=0.1), (row.model, row.method, row.dropout)


def test_paper_layout_shows_two_metrics_daggers_and_the_best(paper_store):
    out = _cli("table", "--db", paper_store, "--source", "paper", "--model", "google/t5-small-lm-adapt")
    assert out.returncode == 0, out.stderr
    line = next(li for li in out.stdout.splitlines() if "superpos_prompt" in li and " off " in li)
    assert "*89.9/85.8" in line and "84.0/84.0" in line  # mrpc f1/accuracy (best of its column), stsb
    assert "0.0†" in out.stdout  # runs with no valid output
    md = _cli("table", "--db", paper_store, "--source", "paper", "--format", "markdown").stdout
    assert md.startswith("| model | method |") and "**" in md
    latex = _cli("table", "--db", paper_store, "--source", "paper", "--format", "latex").stdout
    assert latex.startswith("\\begin{tabular}") and "$^\\dagger$" in latex and "\\textbf{" in latex


def _store_with_cells(url, rows):
    """A sweep written through the writer (no Ray): rows of (model, method, task, seed, role, metrics)."""
    writer = ResultsWriter(open_store(url))
    sweep = writer.create_sweep("t", "name: t", "h", {"versions": {}})
    for i, (model, method, task, seed, role, metrics) in enumerate(rows):
        key = f"{model}|{method}|{task}"
        cell = writer.add_cells(sweep, [dict(key=key, method=method, task=task, model=model, m=None,
                                             options="{}", dropout=True, seed=0)])[key]
        trial = writer.start_trial(cell, i, f"ray-{i}", {"seed": seed, "lr": 0.1}, 0.1, 0.01, role=role,
                                   replica_of=0 if role == "replica" else None)  # row 0: the chosen trial
        writer.log_metrics(trial, 1, {f"val/{k}": v for k, v in metrics.items()})
        writer.finish_trial(trial, "complete")
    return sweep


def test_store_tables_show_metrics_invalid_runs_seeds_and_versus(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    base = "google/t5-base-lm-adapt"
    sweep = _store_with_cells(url, [
        (base, "prompt_tuning", "mrpc", 0, "search", {"f1": 0.8, "accuracy": 0.7, "score": 0.75, "invalid_rate": 0.0}),
        (base, "prompt_tuning", "mrpc", 1, "replica", {"f1": 0.6, "accuracy": 0.5, "score": 0.55, "invalid_rate": 0.0}),
        (base, "prompt_tuning", "rte", 0, "search", {"accuracy": 0.0, "score": 0.0, "invalid_rate": 1.0}),
    ])
    engine = open_store(url)
    import_reference(engine)
    scores = tables.sweep_scores(engine, sweep).set_index("task")
    assert scores.loc["mrpc", "metrics"] == "70.0/60.0"  # mean over the two seeds, f1/accuracy
    assert scores.loc["mrpc", "n"] == 2 and scores.loc["mrpc", "std"] == pytest.approx(14.142, abs=0.01)
    assert scores.loc["rte", "invalid"] and not scores.loc["mrpc", "invalid"]
    texts, numbers = tables.build(engine, "main", sweep)
    assert texts.loc[0, "mrpc"] == "70.0/60.0 ±14.1" and texts.loc[0, "rte"] == "0.0†"
    assert numbers.loc[0, "average"] == pytest.approx((65.0 + 0.0) / 2)
    versus, _ = tables.build(engine, "versus", sweep)
    rte = versus[versus.task == "rte"].iloc[0]
    assert rte["paper"] == pytest.approx(53.1) and rte["difference"] == pytest.approx(-53.1)
    mrpc_paper = (81.2 + 68.4) / 2
    average = versus[versus.task == "average"].iloc[0]  # over the same two tasks only
    assert average["paper"] == pytest.approx((53.1 + mrpc_paper) / 2)
    assert average["ours"] == pytest.approx((0.0 + 65.0) / 2)


def test_table_errors_name_the_fix(paper_store, tmp_path):
    out = _cli("table", "--db", paper_store, "--source", "99")
    assert out.returncode == 2 and "no sweep 99" in out.stderr
    out = _cli("table", "--db", paper_store)
    assert out.returncode == 2 and "--source paper" in out.stderr
    empty = f"sqlite:///{tmp_path / 'e.db'}"
    _store_with_cells(empty, [("tiny-t5", "prompt_tuning", "rte", 0, "search", {"accuracy": 0.5, "score": 0.5})])
    out = _cli("table", "--db", empty, "--source", "paper")
    assert out.returncode == 2 and "superpos db import-reference" in out.stderr
    out = _cli("table", "--db", paper_store, "--source", "paper", "--kind", "versus")
    assert out.returncode == 2 and "--source SWEEP_ID" in out.stderr
    # a model the source has no row of printed "(no rows)" and exit 0: a typo looked like an empty sweep
    out = _cli("table", "--db", paper_store, "--source", "paper", "--model", "google/t5-base")
    assert out.returncode == 2 and ("--model 'google/t5-base' has no rows in the paper's Table 1; its models: "
                                    "google/t5-base-lm-adapt, google/t5-small-lm-adapt") in out.stderr
    out = _cli("table", "--db", empty, "--model", "tiny-t5-lm-adapt")
    assert out.returncode == 2 and "has no rows in sweep 1; its models: tiny-t5" in out.stderr
    assert _cli("table", "--db", empty, "--model", "tiny-t5").returncode == 0


def test_a_model_the_paper_has_no_numbers_for_filters_to_its_own_rows(tmp_path):
    """`superpos table --model tiny-t5` on the demo store crashed (KeyError: 'm') once the paper's
    numbers were imported: the paper has no row of that model."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    sweep = _store_with_cells(url, [("tiny-t5", "prompt_tuning", "rte", 0, "search", {"accuracy": 0.5, "score": 0.5})])
    engine = open_store(url)
    import_reference(engine)
    for kind in tables.KINDS:
        table, _ = tables.build(engine, kind, sweep, model="tiny-t5")
        assert kind == "versus" or len(table) == 1, (kind, table)
    assert tables.build(engine, "main", sweep, model="t5-none")[0].empty
