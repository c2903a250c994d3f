"""Two sweeps side by side: the noise rule (db/noise.py) on crafted seeds, the table, the CLI, and the
same rule deciding a column's best."""

from __future__ import annotations

import json
import subprocess

import pytest
from scipy import stats

from db import formats, tables
from db.engine import open_store
from db.noise import tied_with_best, welch
from db.writer import ResultsWriter
from tests.conftest import REPO


def _sweep(writer: ResultsWriter, name: str, cells: dict[str, list[float]]) -> int:
    """A sweep written through the writer: per task, the validation scores of its seeds (the first is
    the chosen search trial, the others its replicas)."""
    sweep = writer.create_sweep(name, f"name: {name}", "h", {"versions": {}})
    for task, scores in cells.items():
        key = f"tiny-t5|prompt_tuning|{task}"
        cell = writer.add_cells(sweep, [dict(key=key, method="prompt_tuning", task=task, model="tiny-t5", m=None,
                                             options="{}", dropout=True, seed=0)])[key]
        for number, score in enumerate(scores):
            role = "search" if number == 0 else "replica"
            trial = writer.start_trial(cell, number, f"{name}-{task}-{number}", {"seed": number}, 0.1, 0.0, role=role,
                                       replica_of=0 if number else None)
            writer.log_metrics(trial, 1, {"val/score": score, "val/accuracy": score})
            writer.finish_trial(trial, "complete")
    return sweep


A = {"rte": [0.50, 0.52, 0.54], "sst2": [0.50, 0.51, 0.52], "cb": [0.6]}
B = {"rte": [0.51, 0.53, 0.55], "sst2": [0.70, 0.71, 0.72], "cb": [0.7], "boolq": [0.5, 0.6]}


@pytest.fixture
def two_sweeps(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = ResultsWriter(open_store(url))
    return url, _sweep(writer, "a", A), _sweep(writer, "b", B)


def test_welch_matches_scipy_and_needs_two_seeds_a_side():
    a, b = [50.0, 52.0, 54.0], [70.0, 71.5, 72.0, 73.0]
    test = welch(sum(a) / 3, stats.tstd(a), 3, sum(b) / 4, stats.tstd(b), 4)
    assert test.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert not test.within_noise and test.high < 0
    assert welch(50.0, 1.0, 1, 51.0, 1.0, 3) is None


def test_versus_marks_what_is_within_the_noise_of_the_seeds(two_sweeps):
    url, a, b = two_sweeps
    table, _ = tables.build(open_store(url, readonly=True), "versus", a, against=b)
    rows = table.set_index("task")
    assert set(rows.index) == {"rte", "sst2", "cb"}  # boolq: only in b
    assert rows.loc["rte", "difference"] == pytest.approx(-1.0) and bool(rows.loc["rte", "within_noise"])
    assert rows.loc["sst2", "difference"] == pytest.approx(-20.0) and not bool(rows.loc["sst2", "within_noise"])
    assert rows.loc["sst2", "high"] < 0 < rows.loc["rte", "high"]
    assert rows.loc["sst2", "p"] == pytest.approx(stats.ttest_ind([50, 51, 52], [70, 71, 72], equal_var=False).pvalue)
    assert rows["within_noise"].isna().tolist() == [True, False, False]  # cb (sorted first): one seed a side
    assert list(rows.loc["rte", ["n_a", "n_b"]]) == [3, 3]
    text = formats.render(table, None, "text")
    assert "within noise" in text and "differs" in text and "n/a (one seed)" in text


def test_the_cli_compares_two_sweeps_and_says_why_a_comparison_is_empty(two_sweeps, capsys):
    from orchestrator.cli import main

    url, a, b = two_sweeps

    def superpos(*args):  # in-process: the command's exit code and output, without a second interpreter
        code = main([*args, "--db", url])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    out = superpos("table", "--kind", "versus", "--source", str(a), "--against", str(b), "--format", "json")
    assert out.returncode == 0, out.stderr
    shape = json.loads(out.stdout)
    assert (shape["command"], shape["kind"], shape["source"], shape["against"]) == ("table", "versus", a, b)
    by_task = {r["task"]: r for r in shape["rows"]}
    assert by_task["sst2"]["within_noise"] is False and by_task["cb"]["within_noise"] is None
    text = superpos("table", "--kind", "versus", "--source", str(a), "--against", str(b))
    assert "Welch's t-test" in text.stdout and "differs" in text.stdout
    empty = superpos("table", "--kind", "versus", "--source", str(a))  # versus the paper: nothing shared
    assert empty.returncode == 0 and "no row and task of sweep" in empty.stdout
    wrong = superpos("table", "--source", str(a), "--against", str(b))
    assert wrong.returncode == 2 and "use it with --kind versus" in wrong.stderr
    missing = superpos("table", "--kind", "versus", "--source", str(a), "--against", "99")
    assert missing.returncode == 2 and "no sweep 99" in missing.stderr


def test_the_best_of_a_column_is_the_top_and_what_ties_it_within_noise_never_a_dagger_or_an_all_tie():
    assert tied_with_best([50.0, 52.0, 70.0], [1.0, 1.0, 1.0], [3, 3, 3]) == [False, False, True]
    assert tied_with_best([50.0, 51.0, 70.0], [2.0, 2.0, 1.0], [3, 3, 3]) == [False, False, True]
    assert tied_with_best([69.0, 70.0, 30.0], [2.0, 2.0, 1.0], [3, 3, 3]) == [True, True, False]  # 69 ties 70
    assert tied_with_best([0.0, 0.0]) == [False, False]  # a tie of every row marks none
    assert tied_with_best([0.0, 0.0, 10.0], excluded=[False, False, True]) == [True, True, False]  # 10 is a †
    assert tied_with_best([50.0, 60.0]) == [False, True]  # one seed each: only the top
    assert tied_with_best([50.0, None]) == [False, False]  # one value: nothing to compare


def test_a_table_of_all_dagger_zeros_marks_no_best(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = ResultsWriter(open_store(url))
    sweep = writer.create_sweep("z", "name: z", "h", {"versions": {}})
    for method in ("prompt_tuning", "residual_prompt"):
        key = f"{method}|rte"
        cell = writer.add_cells(sweep, [dict(key=key, method=method, task="rte", model="tiny-t5", m=None,
                                             options="{}", dropout=True, seed=0)])[key]
        trial = writer.start_trial(cell, 0, f"z-{method}", {"seed": 0}, 0.1, 0.0)
        writer.log_metrics(trial, 1, {"val/score": 0.0, "val/accuracy": 0.0, "val/invalid_rate": 1.0})
        writer.finish_trial(trial, "complete")
    text = formats.render(*tables.build(open_store(url, readonly=True), "main", sweep), "text")
    assert "0.0†" in text and "*" not in text


def test_the_dashboard_puts_a_sweep_beside_another_with_the_noise(two_sweeps, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    url, a, b = two_sweeps
    monkeypatch.setenv("SUPERPOS_DB", url)
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60).run()
    at.selectbox(key="sweep").set_value(a).run()
    at.radio[1].set_value("versus").run()
    beside = next(s for s in at.selectbox if s.label == "Beside")
    beside.set_value(b).run()
    assert not at.exception
    [shown] = [m.value for m in at.markdown if m.value.startswith("| model |")]
    assert "within_noise" in shown and "| differs |" in shown and "| within noise |" in shown
    assert any("Welch's t-test" in c.value for c in at.caption)
