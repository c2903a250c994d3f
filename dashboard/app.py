"""Streamlit entry point: lays out navigation only; pages live in dashboard/views.

    superpos dashboard [--db URL]      (or: SUPERPOS_DB=... streamlit run dashboard/app.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` puts only this folder on the path

from dashboard import data  # noqa: E402
from dashboard.views import ablation, curves, matters, prompts, search, sweeps, table, weights  # noqa: E402
from db.engine import StoreError  # noqa: E402

st.set_page_config(page_title="superpos results", layout="wide")
st.sidebar.markdown(f"**Results store**  \n`{data.shown_url(data.db_url())}`")
try:
    data.engine(data.db_url())
except StoreError as err:
    st.error(str(err))
    st.stop()
nav = st.navigation([
    st.Page(table.page, title="Comparison table", default=True),
    st.Page(curves.page, title="Learning curves", url_path="curves"),
    st.Page(ablation.page, title="m ablation", url_path="ablation"),
    st.Page(search.page, title="Learning-rate search", url_path="search"),
    st.Page(weights.page, title="SuperPos weights", url_path="weights"),
    st.Page(prompts.page, title="Learned prompts", url_path="prompts"),
    st.Page(matters.page, title="What matters", url_path="matters"),
    st.Page(sweeps.page, title="Sweeps and trials", url_path="sweeps"),
])
nav.run()
