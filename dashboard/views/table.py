"""Page: the paper-style comparison table of one sweep, with the paper's own Table 1 beside it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.labels import method_label
from dashboard.views.common import sweep_page
from db import queries

ROW_COLUMNS = ("model", "method", "m", "options", "dropout")


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """Rows labelled like the paper's Table 1 (model, method with its grid options, dropout), in percent."""
    shown = table.copy()
    options = shown.pop("options") if "options" in shown else pd.Series("", index=shown.index)
    shown.insert(1, "Method", [method_label(r.method, r.m) + (f" ({o})" if o else "")
                               for r, o in zip(shown.itertuples(), options)])
    shown.insert(2, "Dropout", shown.pop("dropout").map({True: "on", False: "off"}))
    return shown.drop(columns=["method", "m"]).rename(columns={"model": "Model", "average": "Avg"})


def _show(table: pd.DataFrame, number_format: str = "%.1f") -> None:
    shown = display_table(table)
    numbers = {c: st.column_config.NumberColumn(format=number_format) for c in shown.columns
               if c not in ("Model", "Method", "Dropout")}
    st.dataframe(shown, hide_index=True, width="stretch", column_config=numbers)


def _downloads(url: str, sweep_id: int, selection: str) -> None:
    """The sweep's table in the paper's layout (db/tables.py), as files."""
    from db.tables import render

    table, numbers = data.table(url, "main", str(sweep_id), selection, None)
    columns = st.columns(3)
    for column, (fmt, suffix, mime) in zip(columns, (("csv", "csv", "text/csv"), ("markdown", "md", "text/markdown"),
                                                     ("latex", "tex", "text/x-tex"))):
        column.download_button(f"Download {fmt}", render(table, numbers, fmt), file_name=f"sweep{sweep_id}.{suffix}",
                               mime=mime)


def page() -> None:
    url, sweep_id = sweep_page("Comparison table")
    if sweep_id is None:
        return
    selection = st.radio("Score at", ["peak", "final"], horizontal=True,
                         help="peak: the epoch with the best validation score; final: the last epoch")
    tables = data.comparison_tables(url, sweep_id, selection)
    table = tables["mean"]
    if table.empty:
        st.warning("This sweep has no completed trials yet.")
        return
    st.caption("Task score (%) per cell at the learning rate Optuna chose (validation under the paper's "
               "protocol, held-out test under a holdout protocol), averaged over seeds. Two-metric tasks are "
               "averaged; Avg is the mean over tasks.")
    _show(table)
    n = tables["n"]
    if (n.drop(columns=list(ROW_COLUMNS)).max().max() or 0) > 1:
        st.caption("Cells hold the mean over seeds (the chosen learning rate re-run with each seed). Their "
                   "sample standard deviations:")
        _show(tables["std"])
        st.caption("Seeds per cell:")
        _show(n, "%d")
    if table["average"].notna().any():
        st.altair_chart(charts.average_bar_chart(table.dropna(subset=["average"])), width="stretch")
    standardized = queries.standardized_scores(table)
    if len(standardized) > 1:
        st.subheader("Standardized overall score")
        st.caption("The paper's Table 2: each task min-max scaled to 0..100 across these rows, then the mean and "
                   "population standard deviation over tasks.")
        shown = display_table(standardized)
        st.dataframe(shown, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.1f")
                                    for c in ("standardized_mean", "standardized_std")})

    _downloads(url, sweep_id, selection)

    st.subheader("The paper's Table 1")
    paper = data.paper_table(url)
    if paper.empty:
        st.info("No reference numbers in this database yet: `superpos db import-reference --db ...` loads them.")
        return
    tasks = [c for c in table.columns if c not in (*ROW_COLUMNS, "average")]
    st.caption("Published numbers (SuperPos-Prompt, Table 1) for the tasks of this sweep; Avg is the paper's "
               "average over all 13 tasks.")
    _show(paper[[*ROW_COLUMNS, *[t for t in tasks if t in paper.columns], "average"]])
