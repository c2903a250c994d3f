"""Page: the learning-rate search of each cell: the rates tried, their objective, the chosen one."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, charts, data
from dashboard.views.common import sweep_page


def page() -> None:
    url, sweep_id = sweep_page("Learning-rate search")
    if sweep_id is None:
        return
    search = analysis.lr_search(data.trials(url, sweep_id), data.best_trials(url, sweep_id))
    if search.empty:
        st.warning("No search trial of this sweep has finished yet.")
        return
    cells = sorted(search["cell"].unique())
    chosen = st.multiselect("Cells", cells, default=cells[: min(4, len(cells))])
    shown = search[search["cell"].isin(chosen)]
    st.caption("Each point is a search trial (its peak validation score); the larger point is the cell's chosen "
               "learning rate, which its replicas (other seeds) re-run. Right: the objective by trial number and "
               "the best so far. Below, one cell's study in Optuna's own plots.")
    st.altair_chart(charts.lr_search_chart(shown))
    st.dataframe(shown[["cell", "number", "lr", "objective", "state", "chosen"]], hide_index=True, width="stretch")
    one = st.selectbox("One cell, in Optuna's own plots", cells)
    rows = search[search["cell"] == one]
    if rows["objective"].notna().sum() >= 1:
        import optuna.visualization as ov

        study = analysis.cell_study(rows)
        left, right = st.columns(2)
        left.plotly_chart(ov.plot_slice(study), width="stretch")
        right.plotly_chart(ov.plot_optimization_history(study), width="stretch")
