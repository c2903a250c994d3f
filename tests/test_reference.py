"""The paper's numbers as reference results: idempotent import, and Table 1 rebuilt from them."""

from __future__ import annotations

import pytest

from db import queries, tables
from db.engine import open_store
from db.reference import import_reference


def test_import_is_idempotent(store_url):
    engine = open_store(store_url)
    first = import_reference(engine)
    second = import_reference(engine)
    assert first == second and first["paper_table1"] == 304
    assert len(queries.reference_results(engine)) == sum(first.values())
    assert set(queries.reference_results(engine, "paper_table1")["metric"]) >= {"macro_f1", "f1a", "em"}


def test_task_scores_reproduce_the_papers_averages(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    import_reference(engine)
    table = tables.scores(engine, "paper")
    published = queries.reference_results(engine, "paper_table1_averages")
    assert len(published) == 14
    for row in published.itertuples():
        ours = table[(table.model == row.model) & (table.method == row.method)
                     & (table.dropout == (row.dropout == "on"))]["average"].item()
        assert ours == pytest.approx(row.value, abs=0.051), (row.model, row.method, row.dropout)


def test_standardized_scores_reproduce_the_papers_table2(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    import_reference(engine)
    ours = tables.standardized_scores(tables.scores(engine, "paper"))
    assert "attempt" not in set(ours["method"]) and len(ours) == 14
    published = queries.reference_results(engine, "paper_table2").pivot_table(
        index=["model", "method", "dropout"], columns="metric", values="value")
    for row in ours.itertuples():
        paper = published.loc[(row.model, row.method, "on" if row.dropout else "off")]
        assert row.standardized_mean == pytest.approx(paper["mean"], abs=0.1)
        assert row.standardized_std == pytest.approx(paper["std"], abs=0.1)
    assert set(ours["tasks"]) == {13}


def test_a_task_on_which_every_row_ties_is_left_out_of_the_standardized_score():
    """The demo's sst2 is 100.0 in every row: scored 0 for every row, it lowered each mean by a third
    and gave the best row 66.7 ± 47.1 instead of 100.0 ± 0.0 over the two tasks that rank the rows."""
    import pandas as pd

    table = pd.DataFrame({"model": "t", "method": ["a", "b", "c"], "m": None, "options": "", "dropout": False,
                          "rte": [60.0, 50.0, 55.0], "cb": [80.0, 70.0, 72.5], "sst2": 100.0})
    found = tables.standardized_scores(table).set_index("method")
    assert found["standardized_mean"].to_dict() == pytest.approx({"a": 100.0, "b": 0.0, "c": 37.5})
    assert found["standardized_std"].to_dict() == pytest.approx({"a": 0.0, "b": 0.0, "c": 12.5})
    assert set(found["tasks"]) == {2}
