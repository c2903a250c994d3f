"""`superpos sweep status`: a sweep's progress against its plan, cell by cell, with an ETA from the
trial times observed so far."""

from __future__ import annotations

from db import queries, run_state
from orchestrator.spec import parse_spec
from workers.members import FINISHED


def _cell_state(row, budget: int, replicas: int) -> str:
    if row.search_done >= budget and row.replicas_done >= replicas:
        return "complete"
    if row.unfinished:
        return "running"
    if row.failed and not row.search_done:
        return "failed"
    return "pending" if not (row.search_done or row.failed) else "partial"


def format_status(engine, sweep_id: int) -> str:
    details = queries.sweep_details(engine, sweep_id)
    spec = parse_spec(details["spec_text"], f"sweep {sweep_id}'s spec")
    progress = run_state.cell_progress(engine, sweep_id)
    trials = queries.trials_frame(engine, sweep_id)
    planned = details["planned_trials"] or len(trials)
    finished = int(trials["state"].isin(FINISHED).sum()) if len(trials) else 0
    failed = int((trials["state"] == "failed").sum()) if len(trials) else 0
    running = int((trials["state"] == "running").sum()) if len(trials) else 0
    methods = {key: key.split("|")[0] for key in progress["key"]}
    progress["state"] = [_cell_state(row, spec.optuna.budget(methods[row.key]), spec.replicas)
                         for row in progress.itertuples()]
    counts = progress["state"].value_counts().to_dict()
    where = f"job {details['job_id']} at {details['job_address']}" if details["job_id"] else f"driver {details['driver']}"
    lines = [f"sweep {sweep_id} '{details['name']}': {details['state']} ({where})",
             f"trials: {finished + failed}/{planned} done ({finished} finished, {failed} failed), {running} running",
             "cells: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("complete", "running", "partial", "failed",
                                                                        "pending"))]
    eta = run_state.store_eta(trials, planned) if details["state"] == "running" else None
    if eta is not None:
        lines.append(f"ETA: about {eta.seconds / 60:.1f} min ({eta.trials_left} trials left, median trial "
                     f"{eta.median_trial_s:.1f} s, {eta.running} at a time)")
    lines.append("")
    lines.append(progress[["key", "state", "search_done", "replicas_done", "failed", "unfinished"]].to_string(index=False))
    return "\n".join(lines)
