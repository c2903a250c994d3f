"""Page: the learned prompts the store keeps (db/artefacts.py): per prompt token, the norm of each
cell's prompt on a task, one trial's token-by-token similarity, what is stored and how to export it."""

from __future__ import annotations

import shlex

import streamlit as st

from dashboard import charts, data
from dashboard.labels import method_label
from dashboard.views.common import sweep_page


def page() -> None:
    url, sweep_id = sweep_page("Learned prompts")
    if sweep_id is None:
        return
    selection = st.radio("Epoch", ["peak", "final"], horizontal=True,
                         help="the prompt at the epoch of the best validation score (what the tables report), or "
                              "at the last epoch")
    prompts = data.prompts(url, sweep_id, selection)
    if prompts.empty:
        st.info("This sweep stored no learned prompts: it has no finished prompt-method trials, or an earlier "
                "superpos ran them (artefacts are kept since schema revision 0005).")
        return
    task = st.selectbox("Task", sorted(prompts["task"].unique()))
    on_task = prompts[prompts["task"] == task]
    st.caption("Each line is a cell's prompt (mean over its seeds): the L2 norm of each of its n tokens, the "
               "matrix prepended to the encoder's input. ATTEMPT's is its target prompt (the mix depends on the "
               "input). Dashed: dropout on.")
    st.altair_chart(charts.prompt_norms_chart(on_task), width="stretch")
    labels = {int(r.trial_id): f"{method_label(r.method, r.m)}{f' ({r.options})' if r.options else ''}, dropout "
                               f"{'on' if r.dropout else 'off'}, seed {r.seed} (trial {r.trial_id}, epoch {r.epoch})"
              for r in on_task.itertuples()}
    trial = st.selectbox("Trial", list(labels), format_func=labels.get)
    row = on_task[on_task["trial_id"] == trial].iloc[0]
    left, right = st.columns(2)
    with left:
        st.altair_chart(charts.token_similarity_heatmap(row["array"], "cosine similarity between its prompt tokens"),
                        width="stretch")
    with right:
        stored = data.artefact_list(url, sweep_id)
        stored = stored[stored["trial_id"] == trial][["selection", "name", "epoch", "shape", "bytes", "sha256"]]
        st.dataframe(stored.assign(sha256=stored["sha256"].str[:12]), hide_index=True, width="stretch")
        st.caption("As a Hugging Face PEFT adapter:")
        st.code(f"superpos export prompt --db {shlex.quote(data.shown_url(url))} --trial {trial} --selection {selection} --out adapter-{trial}",
                language="bash")
