"""Page: the paper's tables (db/tables.py, the same as `superpos table`): Table 1's layout, Table 2's
standardized score, or a sweep beside the paper; from a sweep or from the paper's own numbers; with
filters and downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.views.common import sweep_page
from db.formats import render

KINDS = {"main": "Table 1 layout", "standardized": "Standardized score (Table 2)",
         "versus": "Beside the paper or a sweep"}
CAPTIONS = {
    "main": "Task score (%) per cell at the learning rate Optuna chose (validation under the paper's protocol, "
            "held-out test under a holdout protocol), mean ± std over seeds. Two-metric tasks show both "
            "metrics (a/b); † marks a run with no valid output (scored 0); the best of each column is bold; "
            "the average is over the tasks shown.",
    "paper": "The paper's Table 1 as published (its numbers, not a run of this store): task score (%) per cell, "
             "SuperPos at m = 128. Two-metric tasks show both metrics (a/b); † marks a run with no valid output "
             "(scored 0); the best of each column is bold; the average is over the tasks shown.",
    "standardized": "The paper's Table 2 rule: each task min-max scaled to 0..100 across these rows, then the mean "
                    "and the population standard deviation over tasks (rows missing a task are left out, and so are tasks on "
                    "which every row ties: `tasks` counts the tasks scaled).",
    "versus": "This sweep beside the paper's Table 1 on the rows and tasks both have (SuperPos at m = 128): "
              "the difference per cell, and the averages over those tasks only.",
    "sweeps": "This sweep (a) beside another (b) on the cells both have: each one's mean, std and n over seeds, "
              "the difference a - b with its 95% confidence interval and p-value (Welch's t-test, unequal "
              "variances), and 'within noise' where the interval holds 0: not shown to differ with these seeds "
              "(it assumes independent, roughly normal seeds; one seed a side decides nothing).",
}


def _filters(scores: pd.DataFrame) -> tuple[str | None, dict]:
    columns = st.columns(4)
    models = sorted(scores["model"].unique())
    model = columns[0].selectbox("Model", ["all", *models])
    methods = columns[1].multiselect("Methods", sorted(scores["method"].unique()))
    tasks = columns[2].multiselect("Tasks", sorted(scores["task"].unique()))
    dropout = columns[3].multiselect("Dropout", ["on", "off"])
    return (None if model == "all" else model), {"methods": methods, "tasks": tasks,
                                                 "dropout": [d == "on" for d in dropout]}


def _downloads(table: pd.DataFrame, numbers: pd.DataFrame | None, name: str) -> None:
    columns = st.columns(3)
    for column, (fmt, suffix, mime) in zip(columns, (("csv", "csv", "text/csv"), ("markdown", "md", "text/markdown"),
                                                     ("latex", "tex", "text/x-tex"))):
        column.download_button(f"Download {fmt}", render(table, numbers, fmt), file_name=f"{name}.{suffix}",
                               mime=mime)


def _against(url: str, sweep_id: int) -> int | None:
    """The other side of a comparison: the paper (None) or another sweep of this store."""
    sweeps = data.sweeps(url)
    others = {int(r.id): f"sweep #{r.id} {r.name}" for r in sweeps.itertuples() if int(r.id) != sweep_id}
    choice = st.selectbox("Beside", [None, *others], format_func=lambda k: "the paper" if k is None else others[k])
    return choice


def page() -> None:
    url, sweep_id = sweep_page("Comparison table")
    has_paper = not data.reference(url, "paper_table1").empty
    if sweep_id is None and not has_paper:
        return
    choices = (["this sweep"] if sweep_id is not None else []) + (["the paper"] if has_paper else [])
    top = st.columns(3)
    origin = top[0].radio("Numbers of", choices, horizontal=True)
    kind = top[1].radio("Table", list(KINDS), format_func=KINDS.get, horizontal=True)
    selection = "peak" if origin == "the paper" else top[2].radio(  # the paper published one number a cell
        "Score at", ["peak", "final"], horizontal=True, help="peak: the epoch with the best validation score; final: "
                                                               "the last epoch")
    source = "paper" if origin == "the paper" else str(sweep_id)
    if kind == "versus" and source == "paper":
        st.info("'Beside the paper or a sweep' compares a sweep with them: choose this sweep's numbers.")
        return
    against = _against(url, sweep_id) if kind == "versus" else None
    scores = data.table_scores(url, source, selection)
    if scores.empty:
        st.warning("This sweep has no completed trials yet.")
        return
    model, filters = _filters(scores)
    table, numbers = data.table(url, kind, source, selection, model, filters, against)
    st.caption(CAPTIONS["sweeps" if against is not None else "paper" if (kind, source) == ("main", "paper") else kind])
    if table.empty:
        st.info("No rows: " + (("the two sweeps share no cell (model, method, options, dropout and task)."
                                if against is not None else "no row and task of this sweep is in the paper's "
                                "Table 1 (its models are google/t5-small-lm-adapt and google/t5-base-lm-adapt).")
                               if kind == "versus" else "change the filters."))
        return
    st.markdown(render(table, numbers, "markdown"))
    if kind == "main" and numbers["average"].notna().any():
        averages = numbers.dropna(subset=["average"])
        averages.attrs = {}  # the best-cell marks are for the table; a chart's frame travels as Arrow
        st.altair_chart(charts.average_bar_chart(averages), width="stretch")
    _downloads(table, numbers, "paper" if source == "paper" else f"sweep{sweep_id}")
    if source == "paper":
        appendix = data.appendix_table(url)
        if not appendix.empty:
            st.subheader("The paper's Table 3 (appendix)")
            st.caption("T5 v1.0 base and the variants of the appendix (prompt length, softmax), with numbers other "
                       "papers reported; task scores in % (two-metric tasks averaged).")
            st.dataframe(appendix, hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.1f") for c in appendix.columns
                                        if c not in ("model", "method", "variant", "dropout", "reported_by")})
