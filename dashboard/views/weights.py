"""Page: SuperPos weights p'_i compared across tasks (the paper's Fig. 2d)."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data
from dashboard.views.common import sweep_page


def page() -> None:
    url, sweep_id = sweep_page("SuperPos weights across tasks")
    if sweep_id is None:
        return
    snaps = data.snapshots(url, sweep_id)
    if snaps.empty:
        st.info("This sweep stored no SuperPos weights (it has no completed superpos_prompt trials).")
        return
    seeds = sorted(int(x) for x in snaps["seed"].dropna().unique())
    seed = st.selectbox("Seed", seeds, help="the chosen learning rate's trial (first seed) or one of its replicas")
    snaps = snaps[snaps["seed"] == seed]
    groups = snaps.groupby(["model", "m", "options", "dropout"], dropna=False)
    options = list(groups.groups)
    choice = st.selectbox("Cell family", options, format_func=lambda g: f"{g[0]}, m={g[1]}{f', {g[2]}' if g[2] else ''}, "
                                                                        f"dropout {'on' if g[3] else 'off'}")
    sims = charts.cosine_by_token(groups.get_group(choice))
    if not sims:
        st.info("Needs SuperPos trials on at least two tasks to compare.")
        return
    st.caption("Cosine similarity of the learned p'_i between tasks, one heat map per prompt token i.")
    cols = st.columns(min(len(sims), 5))
    for i, matrix in sims.items():
        with cols[i % len(cols)]:
            st.altair_chart(charts.similarity_heatmap(matrix, f"token {i + 1}"))
