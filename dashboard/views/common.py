"""Widgets shared by pages."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data


def sweep_page(title: str) -> tuple[str, int | None]:
    """A page's header and sweep picker: (store URL, chosen sweep id or None when there is none)."""
    url = data.db_url()
    st.header(title)
    return url, pick_sweep(url)


def pick_sweep(url: str) -> int | None:
    """A sweep picker (newest first), or an explanation when the store has none."""
    sweeps = data.sweeps(url)
    if sweeps.empty:
        st.info("No sweeps in this database yet. Run one: `superpos sweep run orchestrator/specs/demo.yaml`")
        return None
    # done of the planned total (trials created so far undercount a running sweep)
    planned = [int(p) if pd.notna(p) else t for p, t in zip(sweeps["planned_trials"], sweeps["trials"])]
    labels = {int(r.id): f"#{r.id} {r.name} ({r.state}, {r.complete + r.stopped}/{n} trials)"
              for r, n in zip(sweeps.itertuples(), planned)}
    return st.selectbox("Sweep", list(labels), format_func=labels.get, key="sweep")
