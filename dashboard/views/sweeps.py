"""Page: the sweeps in the store (progress against each one's plan) and the trials of one of them.
Refreshes by itself while a sweep runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from db import driver, run_state

TRIAL_COLUMNS = ["trial_id", "method", "m", "options", "task", "dropout", "role", "seed", "number", "lr", "objective",
                 "reported_score", "state", "failures", "seconds"]
PERCENT = ["objective", "reported_score"]  # stored in 0..1, shown in percent


def shown_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The store's trial rows as the page shows them: scores in percent (as on every other page), m as text."""
    shown = trials.assign(**{c: trials[c] * 100 for c in PERCENT if c in trials})
    return shown.assign(m=trials["m"].map(lambda v: "-" if pd.isna(v) else str(int(v)))) if "m" in trials else shown


def progress(sweeps: pd.DataFrame) -> pd.DataFrame:
    """Sweeps with 'done/planned' trials (done: finished or failed) in front."""
    planned = [int(p) if pd.notna(p) else t for p, t in zip(sweeps["planned_trials"], sweeps["trials"])]
    done = sweeps["complete"] + sweeps["stopped"] + sweeps["failed"]
    shown = sweeps.assign(progress=[f"{d}/{p}" for d, p in zip(done, planned)])
    return shown[["id", "name", "state", "progress", "failed", *[c for c in sweeps.columns if c not in
                                                               ("id", "name", "state", "failed", "planned_trials")]]]


def eta_minutes(trials: pd.DataFrame, planned: int) -> float | None:
    """The sweep's ETA in minutes (db/run_state.py `store_eta`); None before any trial finished."""
    eta = run_state.store_eta(trials, planned)
    return None if eta is None else eta.seconds / 60


def _trial_label(trials: pd.DataFrame, trial_id: int) -> str:
    row = trials[trials["trial_id"] == trial_id].iloc[0]
    return (f"trial {trial_id}: {row['method']} {row['task']} {row['role']} seed {row['seed']} lr {row['lr']:.2e} "
            f"({row['state']})")


def _body(url: str) -> None:
    sweeps = data.sweeps(url)
    if sweeps.empty:
        st.info("No sweeps in this store yet: `superpos sweep run orchestrator/specs/demo.yaml --db ...` makes one.")
        return
    st.dataframe(progress(sweeps), hide_index=True, width="stretch")
    names = dict(zip(sweeps["id"], sweeps["name"]))
    sweep_id = st.selectbox("Trials of sweep", sweeps["id"].tolist(), format_func=lambda i: f"#{i} {names[i]}")
    row = sweeps[sweeps["id"] == sweep_id].iloc[0]
    trials = data.trials(url, sweep_id)
    details = data.sweep_details(url, sweep_id)
    if row["state"] == "running" and details["job_id"]:  # the dashboard imports no Ray: it cannot ask the job
        st.caption(f"Submitted as Ray job `{details['job_id']}` to {details['job_address']}: this page reads only "
                   "the store, so it cannot tell whether that job still runs; `superpos sweep status "
                   f"{sweep_id} --db ...` asks the cluster.")
    if row["state"] == "running" and not details["job_id"] and driver.local_state(details["driver"]) == driver.GONE:
        st.warning(f"Sweep {sweep_id} (driver {details['driver']}): {driver.gone_note(sweep_id)}.")
    elif row["state"] == "running" and pd.notna(row["planned_trials"]):
        eta = eta_minutes(trials, int(row["planned_trials"]))
        st.info(f"Running: {progress(sweeps[sweeps['id'] == sweep_id])['progress'].item()} trials done"
                + (f", about {eta:.1f} min left" if eta is not None else "") + "; this page refreshes by itself.")
    with st.expander("Spec and provenance"):
        st.code(details["spec_text"], language="yaml")
        st.json({k: v for k, v in details.items() if k != "spec_text"})
    columns = [c for c in TRIAL_COLUMNS if c in trials.columns]
    shown = shown_trials(trials)
    st.dataframe(shown[columns + [c for c in trials.columns if c not in columns]], hide_index=True, width="stretch",
                 column_config={"lr": st.column_config.NumberColumn(format="%.2e"),
                                **{c: st.column_config.NumberColumn(f"{c} (%)", format="%.1f") for c in PERCENT}})
    if not trials.empty:
        trial_id = st.selectbox("A trial's curves and config", trials["trial_id"].tolist(),
                                format_func=lambda t: _trial_label(trials, t))
        config, metrics = data.trial_detail(url, int(trial_id))
        if not metrics.empty:
            st.altair_chart(charts.trial_chart(metrics))
        with st.expander("Its config (every option; `superpos trial run` takes it as YAML)"):
            st.json(config)
    failed = trials[trials["state"] == "failed"]
    for trial in failed.itertuples():
        with st.expander(f"trial {trial.trial_id} failed ({trial.method}, {trial.task})"):
            st.code(data.trial_error(url, int(trial.trial_id)) or "no error text")


def page() -> None:
    url = data.db_url()
    st.header("Sweeps and trials")
    running = not data.sweeps(url).empty and (data.sweeps(url)["state"] == "running").any()
    st.fragment(_body, run_every=15 if running else None)(url)
