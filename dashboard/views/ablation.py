"""Page: the m ablation (the paper's Fig. 2c): score vs m per task and on average, beside the paper's."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, charts, data
from dashboard.views.common import sweep_page


def page() -> None:
    url, sweep_id = sweep_page("m ablation")
    if sweep_id is None:
        return
    points = analysis.m_ablation(data.cell_results(url, sweep_id), data.reference(url, "paper_fig2c"))
    if points.empty or points[points["source"] == "ours"]["m"].nunique() < 2:
        st.info("This sweep has no SuperPos cells with two or more values of m. A spec with `m: [4, 8, 16, ...]` "
                "(orchestrator/specs/paper-m-ablation.yaml) makes one; the paper's curve shows below once "
                "`superpos db import-reference` has loaded it.")
        points = points[points["source"] == "paper"]
        if points.empty:
            return
    if (points["source"] == "paper").sum() == 0:
        st.info("The paper's curve is not in this store: `superpos db import-reference` loads it.")
    st.caption("Peak validation score (%) of each cell's chosen trial, mean over seeds with a band of ±1 std; the "
               "paper's values (dashed) are read off its Fig. 2c (T5v1.1 Base, no dropout; approximate). An average is over "
               "the tasks its panel names (those a series has at every m); beside ours, the paper's average of the "
               "same tasks where it has them all.")
    st.altair_chart(charts.m_ablation_chart(points))
