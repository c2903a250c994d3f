"""`superpos sweep status`: a sweep's progress against its plan, cell by cell, with an ETA from the
trial times observed so far."""

from __future__ import annotations

import pandas as pd

from db import driver, queries, run_state
from orchestrator.cli import jobs
from orchestrator.spec import parse_spec
from orchestrator.spec.plan import readable_key
from workers.members import FINISHED


def _cell_state(row, budget: int, replicas: int, sweep_running: bool) -> str:
    if row.blocked:
        return "blocked"
    if row.search_done >= budget and row.replicas_done >= replicas:
        return "complete"
    if row.unfinished:
        return "running" if sweep_running else "interrupted"
    if row.failed and not row.search_done:
        return "failed"
    if not (row.search_done or row.failed):
        return "waiting" if row.sources else "pending"  # waiting: for the cells of this sweep that train its sources
    return "partial"


CELL_STATES = ("complete", "running", "interrupted", "partial", "failed", "pending", "waiting", "blocked")


def status_data(engine, sweep_id: int) -> dict:
    """A sweep's progress (the shape of `superpos sweep status --format json`): the sweep, its trial
    counts against the plan, its cells by state and one by one, and the ETA while it runs."""
    details = queries.sweep_details(engine, sweep_id)
    stored = details["state"]
    gone = stored == "running" and jobs.driver_state(details) == driver.GONE  # killed: it never wrote its end
    state = "interrupted" if gone else stored
    spec = parse_spec(details["spec_text"], f"sweep {sweep_id}'s spec")
    progress = run_state.cell_progress(engine, sweep_id)
    trials = queries.trials_frame(engine, sweep_id)
    states = trials["state"].value_counts().to_dict() if len(trials) else {}
    if gone:  # what a resume will find them: interrupted (db/writer.py reopen_sweep)
        states["interrupted"] = states.get("interrupted", 0) + states.pop("running", 0)
    finished = sum(states.get(s, 0) for s in FINISHED)
    planned = details["planned_trials"] or len(trials)
    running = state == "running"
    cells = [{"key": row.key, "state": _cell_state(row, spec.optuna.budget(row.key.split("|")[0]), spec.replicas,
                                                   running),
              "search_done": int(row.search_done), "replicas_done": int(row.replicas_done), "failed": int(row.failed),
              "unfinished": int(row.unfinished), "blocked": row.blocked or None} for row in progress.itertuples()]
    eta = run_state.store_eta(trials, planned) if running else None
    where = f"job {details['job_id']} at {details['job_address']}" if details["job_id"] else f"driver {details['driver']}"
    if gone:
        where += f"; {driver.gone_note(sweep_id)}"
    return {
        "sweep": {"id": sweep_id, "name": details["name"], "state": state, "stored_state": stored, "where": where},
        "trials": {"planned": planned, "done": finished + states.get("failed", 0), "finished": finished,
                   "failed": states.get("failed", 0), "running": states.get("running", 0),
                   "interrupted": states.get("interrupted", 0)},
        "cell_states": {k: sum(c["state"] == k for c in cells) for k in CELL_STATES},
        "eta": None if eta is None else {"seconds": eta.seconds, "trials_left": eta.trials_left,
                                         "median_trial_s": eta.median_trial_s, "running": eta.running},
        "cells": cells,
    }


def format_status(data: dict) -> str:
    """The text of `superpos sweep status` from `status_data`."""
    sweep, trials, eta = data["sweep"], data["trials"], data["eta"]
    unfinished = f"{trials['running']} running" + (f", {trials['interrupted']} interrupted (resume continues them)"
                                                    if trials["interrupted"] else "")
    lines = [f"sweep {sweep['id']} '{sweep['name']}': {sweep['state']} ({sweep['where']})",
             f"trials: {trials['done']}/{trials['planned']} done ({trials['finished']} finished, {trials['failed']} "
             f"failed), {unfinished}",
             "cells: " + ", ".join(f"{n} {k}" for k, n in data["cell_states"].items() if n or k in ("complete",))]
    if eta is not None:
        lines.append(f"ETA: about {eta['seconds'] / 60:.1f} min ({eta['trials_left']} trials left, median trial "
                     f"{eta['median_trial_s']:.1f} s, {eta['running']} at a time)")
    lines.append("")
    if data["cells"]:
        cells = pd.DataFrame(data["cells"]).assign(key=lambda f: f["key"].map(readable_key)).drop(columns="blocked")
        for name in ("key", "state"):  # text left-aligned under its header, counts right-aligned under theirs
            width = max(len(name), int(cells[name].str.len().max()))
            cells = cells.assign(**{name: cells[name].str.ljust(width)}).rename(columns={name: name.ljust(width)})
        lines.append(cells.to_string(index=False))
        lines += [f"{readable_key(c['key'])}: {c['blocked']}" for c in data["cells"] if c["blocked"]]
    return "\n".join(lines)
