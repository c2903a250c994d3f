"""Page: the paper-style comparison table of one sweep."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.labels import method_label


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """Rows labelled like the paper's Table 1 (method, dropout), numbers in percent."""
    shown = table.copy()
    shown.insert(1, "Method", [method_label(r.method, r.m) for r in shown.itertuples()])
    shown.insert(2, "Dropout", shown.pop("dropout").map({True: "on", False: "off"}))
    shown = shown.drop(columns=["method", "m"]).rename(columns={"model": "Model", "average": "Avg"})
    return shown


def page() -> None:
    url = data.db_url()
    st.header("Comparison table")
    sweeps = data.sweeps(url)
    if sweeps.empty:
        st.info("No sweeps in this database yet. Run one: `superpos sweep run orchestrator/specs/demo.yaml`")
        return
    labels = {int(r.id): f"#{r.id} {r.name} ({r.state}, {r.complete}/{r.trials} trials)" for r in sweeps.itertuples()}
    sweep_id = st.selectbox("Sweep", list(labels), format_func=labels.get)
    selection = st.radio("Score at", ["peak", "final"], horizontal=True,
                         help="peak: the epoch with the best validation score; final: the last epoch")
    table = data.comparison_table(url, sweep_id, selection)
    if table.empty:
        st.warning("This sweep has no completed trials yet.")
        return
    st.caption("Validation task score (%) of the best trial per cell (Optuna's learning rate), "
               "two-metric tasks averaged; Avg is the mean over tasks.")
    st.dataframe(display_table(table), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.1f")
                                for c in table.columns if c not in ("model", "method", "m", "dropout")})
