"""Page: the sweeps in the store and the trials of one of them."""

from __future__ import annotations

import streamlit as st

from dashboard import data


def page() -> None:
    url = data.db_url()
    st.header("Sweeps")
    sweeps = data.sweeps(url)
    st.dataframe(sweeps, hide_index=True, width="stretch")
    if sweeps.empty:
        return
    sweep_id = st.selectbox("Trials of sweep", sweeps["id"].tolist())
    details = data.sweep_details(url, sweep_id)
    with st.expander("Spec and provenance"):
        st.code(details["spec_text"], language="yaml")
        st.json({k: v for k, v in details.items() if k != "spec_text"})
    trials = data.trials(url, sweep_id)
    st.dataframe(trials, hide_index=True, width="stretch",
                 column_config={"lr": st.column_config.NumberColumn(format="%.2e")})
    failed = trials[trials["state"] == "failed"]
    for row in failed.itertuples():
        with st.expander(f"trial {row.trial_id} failed ({row.method}, {row.task})"):
            st.code(data.trial_error(url, int(row.trial_id)) or "no error text")
