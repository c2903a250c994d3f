"""Page: SuperPos's learned weights compared across tasks (the paper's Fig. 2d)."""

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
    st.caption("Each prompt token of SuperPos-Prompt is a weighted sum of m vocabulary embeddings; its learned "
               "weights (the paper's p′) are compared between tasks by cosine similarity, one heat map per prompt "
               "token, tasks ordered by clustering (similar tasks together). 1: the same weights; 0: unrelated; "
               "the colour scale is the same for every map.")
    cols = st.columns(min(len(sims), 4))
    for i, matrix in sims.items():
        with cols[i % len(cols)]:
            st.altair_chart(charts.similarity_heatmap(matrix, f"prompt token {i + 1}", legend=i == 0), width="stretch")
