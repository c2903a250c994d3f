"""The Streamlit dashboard, run headless with AppTest against a real sweep's database."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

APP = str(REPO / "dashboard" / "app.py")


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def test_table_page_shows_the_comparison_table(tiny_sweep, monkeypatch):
    url, sweep_id, spec, _ = tiny_sweep
    monkeypatch.setenv("SUPERPOS_DB", url)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["Model", "Method", "Dropout"]
    assert {"rte", "Avg"} <= set(table.columns)
    assert len(table) == len(spec.methods) * len(spec.dropout)
    assert any(label.startswith("SuperPos PT (m=") for label in table["Method"])


def test_missing_database_shows_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERPOS_DB", f"sqlite:///{tmp_path / 'none.db'}")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "superpos sweep run" in at.error[0].value
    assert not (tmp_path / "none.db").exists()
