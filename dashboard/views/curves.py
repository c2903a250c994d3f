"""Page: learning curves (metric vs epoch) of the best trial per cell, one panel per task."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data
from dashboard.views.common import sweep_page


def page() -> None:
    url, sweep_id = sweep_page("Learning curves")
    if sweep_id is None:
        return
    keys = data.metric_keys(url, sweep_id)
    if not keys:
        st.warning("This sweep has no metrics yet.")
        return
    key = st.selectbox("Metric", keys, index=keys.index("val/score") if "val/score" in keys else 0)
    curves = data.learning_curves(url, sweep_id, key)
    if curves.empty:
        st.warning("No completed trials yet.")
        return
    st.caption("Each cell's chosen trial (Optuna's best learning rate) and its replicas: the mean over seeds per "
               "epoch, the band from the lowest to the highest seed; dashed: dropout on.")
    st.altair_chart(charts.learning_curve_chart(curves, key))
