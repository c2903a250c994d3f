"""The dashboard's way to the data: cached calls of the read-only `db.queries` API and of `db.tables` (the
tables `superpos table` prints). The pages import nothing else from `db` but `formats.render` (text
formatting) and the app `StoreError` (to show a bad store as a message)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from db import artefacts, queries
from db.engine import display_url, open_store, resolve_url, sqlite_path


def db_url() -> str:
    return resolve_url(os.environ.get("SUPERPOS_DB"))


def shown_url(url: str) -> str:
    """The store as the sidebar names it: a SQLite file under the working directory by its relative path
    (as `--db` would take it), any other URL as it is, less its password (a page gets screen-shared)."""
    path = sqlite_path(url)
    if path is None or not path.is_relative_to(Path.cwd().resolve()):
        return display_url(url)
    return f"sqlite:///{path.relative_to(Path.cwd().resolve())}"


@st.cache_resource
def engine(url: str):
    return open_store(url, readonly=True)


@st.cache_data(ttl=15)
def sweeps(url: str) -> pd.DataFrame:
    return queries.list_sweeps(engine(url))


@st.cache_data(ttl=15)
def trials(url: str, sweep_id: int) -> pd.DataFrame:
    return queries.trials_frame(engine(url), sweep_id)


@st.cache_data(ttl=15)
def learning_curves(url: str, sweep_id: int, key: str) -> pd.DataFrame:
    return queries.learning_curves(engine(url), sweep_id, key)


@st.cache_data(ttl=60)
def metric_keys(url: str, sweep_id: int) -> list[str]:
    return queries.metric_keys(engine(url), sweep_id)


@st.cache_data(ttl=15)
def snapshots(url: str, sweep_id: int) -> pd.DataFrame:
    return queries.snapshots(engine(url), sweep_id)


@st.cache_data(ttl=60)
def trial_error(url: str, trial_id: int) -> str | None:
    return queries.trial_error(engine(url), trial_id)


@st.cache_data(ttl=60)
def sweep_details(url: str, sweep_id: int) -> dict:
    return queries.sweep_details(engine(url), sweep_id)


@st.cache_data(ttl=15)
def cell_results(url: str, sweep_id: int) -> pd.DataFrame:
    return queries.cell_results(engine(url), sweep_id)


@st.cache_data(ttl=15)
def reference(url: str, source: str) -> pd.DataFrame:
    return queries.reference_results(engine(url), source)


@st.cache_data(ttl=15)
def table(url: str, kind: str, source: str, selection: str, model: str | None = None,
          filters: dict | None = None, against: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """db/tables.py's table (the one `superpos table` prints) and the numbers behind it; `against`:
    the other sweep of a two-sweep comparison."""
    from db import tables

    return tables.build(engine(url), kind, source, selection, model, filters, against=against)


@st.cache_data(ttl=15)
def table_scores(url: str, source: str, selection: str) -> pd.DataFrame:
    """The long frame behind a table (for the filters' choices)."""
    from db import tables

    if source == "paper":
        return tables.paper_scores(engine(url))
    return tables.sweep_scores(engine(url), int(source), selection)


@st.cache_data(ttl=15)
def best_trials(url: str, sweep_id: int) -> pd.DataFrame:
    return queries.best_trials(engine(url), sweep_id)


@st.cache_data(ttl=15)
def trial_detail(url: str, trial_id: int) -> tuple[dict, pd.DataFrame]:
    return queries.trial_detail(engine(url), trial_id)


@st.cache_data(ttl=15)
def appendix_table(url: str) -> pd.DataFrame:
    from db import tables

    return tables.appendix_table(engine(url))


@st.cache_data(ttl=15)
def importance(url: str, sweep_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fANOVA shares (db/importance.per_task) and the scopes whose trials all scored the same."""
    from db import importance as found

    return found.importances(engine(url), sweep_id)


def task_study(url: str, sweep_id: int, task: str):
    """One task's trials as an Optuna study (for Optuna's plots); not cached: a Study does not pickle cheaply."""
    from db import importance as found

    return found.task_study(engine(url), sweep_id, task)


@st.cache_data(ttl=15)
def prompts(url: str, sweep_id: int, selection: str) -> pd.DataFrame:
    return artefacts.prompts(engine(url), sweep_id, selection)


@st.cache_data(ttl=15)
def artefact_list(url: str, sweep_id: int) -> pd.DataFrame:
    return artefacts.listing(engine(url), sweep_id)
