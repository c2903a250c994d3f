"""Page: what matters across the grid: per task, how much of the score each grid dimension explains
(fANOVA over the sweep's finished trials, db/importance.py), and the trials in parallel coordinates."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data
from dashboard.views.common import sweep_page


def page() -> None:
    url, sweep_id = sweep_page("What matters")
    if sweep_id is None:
        return
    found, same = data.importance(url, sweep_id)
    said = "; ".join(f"{r.task} ({r.scope}): all {r.trials} trials scored {r.score:.1f}" for r in same.itertuples())
    if found.empty:
        st.info("Nothing to compare yet: a task needs two finished trials that differ in some grid dimension "
                "(method, an option such as m, dropout, the learning rate) and in score." +
                (f" Every trial scored the same in {said}." if said else ""))
        return
    if said:
        st.info(f"No dimension explains anything where every trial scored the same: {said}.")
    st.caption("Per task, the share of the variance of the reported score (peak epoch, in %) that each grid "
               "dimension explains: Optuna's fANOVA evaluator over this sweep's finished trials of the task, "
               "scores compared within the task only (across tasks they would measure the task). Scope `all`: "
               "every trial of the task, over method, model, dropout and the learning rate; a method's name: that "
               "method's trials alone, over its options (such as m) too, since an option names its method and "
               "would take a share of the method's effect. The shares of a scope sum to 1; with few trials the "
               "split is noisy (see the trial counts).")
    st.altair_chart(charts.importance_chart(found), width="stretch")
    st.dataframe(found, hide_index=True, width="stretch",
                 column_config={"importance": st.column_config.NumberColumn(format="%.3f")})
    task = st.selectbox("One task, every trial in parallel coordinates", sorted(found["task"].unique()))
    study = data.task_study(url, sweep_id, task)
    if study is not None:
        import optuna.visualization as ov

        st.plotly_chart(ov.plot_parallel_coordinate(study, target_name="score (%)"), width="stretch")
