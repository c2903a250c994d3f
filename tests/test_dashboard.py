"""The Streamlit dashboard, run headless with AppTest against a real sweep's database."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # real sweeps (session fixtures) behind every page

APP = str(REPO / "dashboard" / "app.py")


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def _page(name: str) -> None:
    """Runs one page of dashboard/views as a script (AppTest.from_function)."""
    import importlib

    importlib.import_module(f"dashboard.views.{name}").page()


def _markdown_tables(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("| model |")]


def test_table_page_shows_the_sweep_in_the_papers_layout(tiny_sweep, monkeypatch):
    from db import formats, tables
    from db.engine import open_store

    url, sweep_id, spec, _ = tiny_sweep
    monkeypatch.setenv("SUPERPOS_DB", url)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    [shown] = _markdown_tables(at)
    expected = formats.render(*tables.build(open_store(url, readonly=True), "main", sweep_id), "markdown")
    assert shown == expected  # the same table as `superpos table --format markdown`
    assert any("at the learning rate Optuna chose" in c.value for c in at.caption)
    assert shown.count("| tiny-t5 |") == len(spec.methods) * len(spec.dropout) and "rte" in shown
    assert [b.label for b in at.get("download_button")] == ["Download csv", "Download markdown", "Download latex"]
    at.radio[2].set_value("final").run()  # score at the final epoch
    assert _markdown_tables(at)[0] == formats.render(
        *tables.build(open_store(url, readonly=True), "main", sweep_id, "final"), "markdown")


def test_table_page_shows_the_papers_tables_and_filters(tiny_sweep, monkeypatch):
    url, *_ = tiny_sweep
    monkeypatch.setenv("SUPERPOS_DB", url)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.radio[0].set_value("the paper").run()
    assert not at.exception and [r.label for r in at.radio] == ["Numbers of", "Table"]  # no epoch to choose
    [paper] = _markdown_tables(at)
    base = next(line for line in paper.splitlines()
                if line.startswith("| google/t5-base-lm-adapt | superpos_prompt | 128 | off |"))
    assert base.rstrip(" |").endswith("75.8")  # the paper's Table 1 average for this row
    captions = [c.value for c in at.caption]  # said of the paper's numbers, not of an Optuna choice in this store
    assert any("Table 1 as published" in c for c in captions) and not any("Optuna chose" in c for c in captions)
    appendix = at.dataframe[-1].value  # the paper's Table 3
    assert {"model", "variant", "reported_by"} <= set(appendix.columns) and "google-t5/t5-base" in set(appendix["model"])
    at.radio[1].set_value("standardized").run()
    [standardized] = _markdown_tables(at)
    assert "standardized_mean" in standardized and standardized.count("\n| google/") == 14
    at.multiselect[0].set_value(["superpos_prompt", "full_finetune"]).run()  # methods
    [filtered] = _markdown_tables(at)
    assert "prompt_tuning" not in filtered and "superpos_prompt" in filtered
    at.radio[1].set_value("versus").run()
    assert "compares a sweep" in at.info[0].value


def test_table_page_on_a_store_without_sweeps_or_paper_numbers(tmp_path, monkeypatch):
    from db.engine import open_store

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url).dispose()  # the schema, no sweeps
    monkeypatch.setenv("SUPERPOS_DB", url)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "superpos sweep run" in at.info[0].value


@pytest.mark.parametrize("page, expects", [("curves", "vega"), ("weights", "info:at least two tasks"),
                                           ("sweeps", "dataframe"), ("search", "vega"),
                                           ("ablation", "info:two or more values of m")])
def test_other_pages_render(page, expects, tiny_sweep, monkeypatch):
    url, *_ = tiny_sweep
    monkeypatch.setenv("SUPERPOS_DB", url)
    at = AppTest.from_function(_page, args=(page,), default_timeout=60).run()
    assert not at.exception
    if expects == "dataframe":
        assert len(at.dataframe) == 2 and len(at.dataframe[1].value) > 0
        assert "tiny-e2e" in at.code[0].value and "torch" in at.json[0].value  # spec and provenance
    elif expects.startswith("info:"):  # the tiny sweep has one task and one m: the page says what is missing
        assert expects[5:] in at.info[0].value
        if page == "ablation":  # the paper's curve still shows (the fixture imported the reference numbers)
            assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    else:
        assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), f"no chart on {page}"


def test_missing_database_shows_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERPOS_DB", f"sqlite:///{tmp_path / 'none.db'}")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "superpos sweep run" in at.error[0].value
    assert not (tmp_path / "none.db").exists()


def test_lr_search_frame_marks_the_chosen_trial_and_the_best_so_far(tiny_sweep):
    from dashboard.analysis import lr_search
    from db import queries
    from db.engine import open_store

    url, sweep_id, spec, _ = tiny_sweep
    engine = open_store(url, readonly=True)
    search = lr_search(queries.trials_frame(engine, sweep_id), queries.best_trials(engine, sweep_id))
    assert search["chosen"].sum() == len(queries.best_trials(engine, sweep_id))
    for _, rows in search.groupby("cell"):
        assert rows["best_so_far"].is_monotonic_increasing
        assert rows[rows.chosen]["objective"].item() == rows["objective"].max()


PAGES = ["table", "curves", "ablation", "search", "weights", "prompts", "sweeps"]


def _charts(at) -> int:
    return len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart"))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_a_sweep_with_two_seeds_and_two_values_of_m(page, rich_sweep, monkeypatch):
    url, sweep_id = rich_sweep
    monkeypatch.setenv("SUPERPOS_DB", url)
    at = AppTest.from_function(_page, args=(page,), default_timeout=90).run()
    assert not at.exception, at.exception
    assert not at.warning and not at.error
    if page == "table":
        table = next(m.value for m in at.markdown if m.value.startswith("| model |"))
        assert "±" in table and "| 4 |" in table and "| 8 |" in table
    elif page == "sweeps":
        assert at.dataframe[0].value["progress"].tolist() == ["18/18"]
        from db import queries
        from db.engine import open_store

        stored = queries.trials_frame(open_store(url), sweep_id).set_index("trial_id")["objective"].dropna()
        shown = at.dataframe[1].value.set_index("trial_id")["objective"]  # percent, as on every other page
        assert (shown[stored.index] - stored * 100).abs().max() < 1e-9 and stored.max() <= 1
        assert _charts(at) == 1 and at.json[-1].value  # the chosen trial's curves and config
    elif page == "weights":
        assert at.selectbox[1].options == ["0", "1"] and _charts(at) >= 2  # seeds; a heat map per token
    elif page == "prompts":  # the norms of every cell's prompt on a task, one trial's similarities, its rows
        assert at.selectbox[1].options == ["rte", "sst2"] and _charts(at) == 2
        assert set(at.dataframe[0].value["name"]) >= {"prompt", "state/prompt"} and "export prompt" in at.code[0].value
    else:
        assert _charts(at) >= 1, page
    if page == "search":  # Optuna's slice plot and optimisation history of one cell
        assert len(at.get("plotly_chart")) == 2
    if page == "ablation":
        assert not at.info  # two values of m: the figure, no explanation


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_store_says_how_to_fill_it(page, tmp_path, monkeypatch):
    from db.engine import open_store

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url).dispose()
    monkeypatch.setenv("SUPERPOS_DB", url)
    at = AppTest.from_function(_page, args=(page,), default_timeout=60).run()
    assert not at.exception
    assert "superpos sweep run" in at.info[0].value


def test_the_sidebar_names_a_store_under_the_working_directory_by_its_relative_path(tmp_path, monkeypatch):
    from dashboard.data import shown_url
    from db.engine import resolve_url

    monkeypatch.chdir(tmp_path)
    assert shown_url(resolve_url("superpos.db")) == "sqlite:///superpos.db"
    assert shown_url(resolve_url("runs/a.db")) == "sqlite:///runs/a.db"
    elsewhere = resolve_url(str(tmp_path.parent / "other.db"))
    assert shown_url(elsewhere) == elsewhere and elsewhere.startswith("sqlite:////")
    assert shown_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert shown_url("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"  # no password on a page


def test_the_export_command_on_the_prompts_page_pastes_for_a_store_path_with_a_space(rich_sweep, tmp_path, monkeypatch):
    import shlex
    import sqlite3

    from db.engine import sqlite_path

    copy = tmp_path / "my store" / "r.db"
    copy.parent.mkdir()
    with sqlite3.connect(sqlite_path(rich_sweep[0])) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # the WAL's pages too
    monkeypatch.setenv("SUPERPOS_DB", str(copy))
    at = AppTest.from_function(_page, args=("prompts",), default_timeout=90).run()
    assert not at.exception, at.exception
    command = shlex.split(at.code[0].value)  # as a shell reads it: once unquoted, `--db` took `.../my`
    assert command[:3] == ["superpos", "export", "prompt"] and command[command.index("--db") + 1] == f"sqlite:///{copy}"
