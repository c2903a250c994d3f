"""The `superpos sweep ...` commands: validate, plan, schema, run, resume, status, submit, cancel, list."""

from __future__ import annotations

import json
import sys

from orchestrator.cli import output
from orchestrator.cli.common import fail as _fail


def _n(count: int, noun: str) -> str:
    """'1 method', '2 methods'."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _check_sources(spec, db: str | None) -> None:
    """A spec that consumes an earlier sweep's prompts: that sweep and each needed prompt must be in the
    store (the same checks `sweep run` makes, writing nothing)."""
    if spec.sources is None or spec.staged:
        return
    from db.engine import open_store
    from orchestrator.spec.plan import expand
    from orchestrator.tune import sources

    sources.bind(spec, expand(spec), open_store(db, readonly=True), publish=False)


def cmd_sweep_validate(args) -> int:
    from orchestrator.spec import SpecError, load_spec
    from orchestrator.spec.plan import expand, readable_key

    try:
        spec = load_spec(args.spec)
        _check_sources(spec, args.db)
    except SpecError as err:
        if args.format != "json":
            raise
        output.emit("sweep validate", {"spec": args.spec, "valid": False, "problems": err.problems})
        return 2
    cells = expand(spec)
    total = sum(spec.trials_per_cell(c.method) for c in cells)
    replicas = len(cells) * spec.replicas
    search = total - replicas
    if args.format == "json":
        counts = {"cells": len(cells), "methods": len(spec.methods), "tasks": len(spec.tasks),
                  "models": len(spec.models), "dropout_settings": len(spec.dropout), "search_trials": search,
                  "replicas": replicas, "trials": total, "epochs": spec.epochs}
        output.emit("sweep validate", output.validate(args.spec, spec, cells, counts))
        return 0
    print(f"{args.spec}: valid. {_n(len(cells), 'cell')} ({_n(len(spec.methods), 'method')} with their option grids "
          f"x {_n(len(spec.tasks), 'task')} x {_n(len(spec.models), 'model')} x "
          f"{_n(len(spec.dropout), 'dropout setting')}); {_n(search, 'search trial')} ({spec.optuna.sampler}) + "
          f"{_n(replicas, 'replica')} = {_n(search + replicas, 'trial')} of {_n(spec.epochs, 'epoch')}"
          f"{spec.grid_note()}")
    for line in spec.stage_lines(cells):
        print(f"  {line}")
    shown = cells if args.cells else cells[:10]
    for cell in shown:
        print(f"  {readable_key(cell.key)}")
    if len(shown) < len(cells):
        print(f"  ... {len(cells) - len(shown)} more (--cells lists them all)")
    return 0


def cmd_sweep_plan(args) -> int:
    from pathlib import Path

    from orchestrator.cli.cost import estimate, format_plan, plan_data
    from orchestrator.spec import SpecError, load_spec
    from orchestrator.tune.measured import load_throughput

    spec = load_spec(args.spec)
    if args.throughput and not Path(args.throughput).is_file():
        raise SpecError(f"--throughput {args.throughput}: no such file; `python -m scripts.benchmarks.schedule "
                        "--table FILE` measures one on this machine")
    for name in ("gpus", "cpus"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise SpecError(f"--{name} {getattr(args, name):g}: must be positive")
    table = load_throughput(args.throughput) if args.throughput else None
    est = estimate(spec, table, gpus=args.gpus, cpus=args.cpus, read_hub=args.read_hub_data)
    if args.format == "json":
        output.emit("sweep plan", {"spec": args.spec, **plan_data(spec, est)})
    else:
        print(format_plan(spec, args.spec, est, args.throughput))
    return 0


def cmd_sweep_schema(args) -> int:
    from orchestrator.spec.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_sweep_run(args) -> int:
    from orchestrator.spec import load_spec
    from orchestrator.tune.run import run_sweep

    spec = load_spec(args.spec)  # every check of the spec happens here, before Ray or the database start
    return _finish(args.db, run_sweep(spec, args.db))


EXIT_CODES = {"complete": 0, "partial": 0, "failed": 1, "interrupted": 130, "cancelled": 130}


def _finish(db_url: str | None, sweep_id: int) -> int:
    """Print the sweep's table; the exit code says how it ended: 0 complete or partial (every cell has
    a result), 1 failed (some cell has none), 130 interrupted."""
    from db import queries
    from db.engine import open_store

    print()
    _print_table(db_url, sweep_id, "peak")
    state = queries.sweep_details(open_store(db_url, readonly=True), sweep_id)["state"]
    return EXIT_CODES.get(state, 1)


def cmd_sweep_status(args) -> int:
    from db import run_state
    from db.engine import open_store
    from orchestrator.cli.status import format_status, status_data
    from orchestrator.spec.plan import readable_key

    engine = open_store(args.db, readonly=True)
    data = status_data(engine, args.sweep)
    errors = run_state.trial_errors(engine, args.sweep) if args.errors else []
    if args.format == "json":
        if args.errors:
            data["errors"] = [{"trial_id": t, "cell_key": k, "number": n, "state": st, "failures": f, "error": e}
                              for t, k, n, st, f, e in errors]
        output.emit("sweep status", data)
        return 0
    print(format_status(data))
    if args.errors:
        if not errors:
            print("\nno trial of this sweep has failed")
        for trial_id, key, number, state, failures, error in errors:
            how = "failed" if state == "failed" else f"{state} after {failures} failure(s); its last error"
            print(f"\n--- trial {trial_id} ({readable_key(key)} #{number}): {how} ---\n{error or '(no error recorded)'}")
    elif data["trials"]["failed"]:
        print(f"\n{data['trials']['failed']} failed; --errors prints their tracebacks")
    print()
    return _print_table(args.db, args.sweep, "peak")


def cmd_sweep_submit(args) -> int:
    from db.engine import command_url, display_url, resolve_url
    from orchestrator.cli import jobs
    from orchestrator.spec import SpecError, load_spec

    spec = load_spec(args.spec)  # every check of the spec before anything is uploaded
    if not spec.ray.joins_cluster:  # the job would start a second Ray on the head, beside the cluster's own
        raise SpecError(f"{args.spec}: ray.address is {spec.ray.address or 'null'}, which starts a local Ray; a "
                        "submitted sweep runs as a job on the cluster and joins it: set `ray: {address: auto}` "
                        "(and drop num_cpus/num_gpus), or run it here with `superpos sweep run`")
    jobs.check_jobs_api(args.address)  # in seconds, before the warnings that ask it too
    for warning in (jobs.auth_warning(args.address), jobs.token_file_warning()):
        if warning:
            print(warning, file=sys.stderr)
    db_url = resolve_url(args.db)
    job_id = jobs.submit(spec.text, spec.name, args.address, db_url)
    shown = command_url(db_url)  # a password in the URL stays out of the terminal's scrollback
    print(f"submitted {args.spec} as Ray job {job_id} to {args.address}; results go to {display_url(db_url)}\n"
          f"  follow it:  ray job logs --follow {job_id} --address {args.address}\n"
          f"  or:         superpos sweep list --db {shown}, then superpos sweep status ID --db {shown}\n"
          f"  stop it:    superpos sweep cancel ID --db {shown}  (stored as cancelled; resume continues it)")
    return 0


def cmd_sweep_cancel(args) -> int:
    from db import queries
    from db.engine import open_store
    from orchestrator.cli import jobs

    engine = open_store(args.db, readonly=True)
    details = queries.sweep_details(engine, args.sweep)
    if details["state"] != "running":
        return _fail(f"sweep {args.sweep} is not running (it is {details['state']}); nothing to cancel")
    print(jobs.cancel(details))
    if args.no_wait:
        return 0
    state = jobs.wait_until_stopped(lambda: queries.sweep_details(engine, args.sweep)["state"])
    print(f"sweep {args.sweep} is {state}" + (f"; continue it with: superpos sweep resume {args.sweep}"
                                              if state in ("cancelled", "interrupted") else ""))
    return 0 if state != "running" else 1


def cmd_sweep_resume(args) -> int:
    from dataclasses import replace

    from db import driver, queries
    from db.engine import open_store
    from orchestrator.cli import jobs
    from orchestrator.spec import parse_spec
    from orchestrator.tune.run import run_sweep

    details = queries.sweep_details(open_store(args.db, readonly=True), args.sweep)
    if details["state"] == "running" and jobs.driver_state(details) == driver.ALIVE:
        where = f"job {details['job_id']}" if details["job_id"] else f"driver {details['driver']}"
        return _fail(f"sweep {args.sweep} is still running ({where} is alive): a second driver would run its trials "
                     f"twice; wait for it, or stop it first with: superpos sweep cancel {args.sweep}")
    spec = replace(parse_spec(details["spec_text"], f"sweep {args.sweep}'s spec"), name=details["name"])
    return _finish(args.db, run_sweep(spec, args.db, resume=args.sweep, retry_failed=args.retry_failed))


def _print_table(db_url: str | None, sweep_id: int, selection: str) -> int:
    """The main table of a sweep (db/tables.py), as `superpos table` prints it."""
    from db import formats, tables
    from db.engine import open_store

    engine = open_store(db_url, readonly=True)
    print(f"sweep {sweep_id}: task score (%) per cell at the {selection} epoch, of the trial with the chosen "
          "learning rate (mean±std over seeds; † no valid output; * best of a column)")
    print(formats.render(*tables.build(engine, "main", sweep_id, selection), "text"))
    return 0


def cmd_sweep_list(args) -> int:
    from db import driver, queries
    from db.engine import open_store

    engine = open_store(args.db, readonly=True)
    frame = _driver_checked(engine, queries.list_sweeps(engine))
    if args.format == "json":
        output.emit("sweep list", output.sweeps(frame))
        return 0
    if frame.empty:
        print("no sweeps yet; run one with: superpos sweep run SPEC")
        return 0
    shown = frame.assign(
        created=frame["created"].dt.strftime("%Y-%m-%d %H:%M"),
        finished=frame["finished"].dt.strftime("%Y-%m-%d %H:%M").fillna("-"),
        commit=frame["git_commit"].fillna("").str[:10],
        hardware=frame["hardware"].fillna("").str.split(";").str[0].map(lambda h: h if len(h) <= 32 else h[:31] + "…"),
        planned=frame["planned_trials"].astype("Int64"))
    print(shown[["id", "name", "state", "planned", "trials", "complete", "stopped", "failed", "created", "finished",
                 "commit", "hardware"]].to_string(index=False))
    for sweep_id in frame[frame["stored_state"] != frame["state"]]["id"]:
        print(f"sweep {sweep_id}: {driver.gone_note(int(sweep_id))}")
    return 0


def _driver_checked(engine, frame):
    """`state` as it is: a sweep stored as running whose driver is gone (orchestrator/cli/jobs.py
    driver_state) is interrupted; `stored_state` keeps what the store says."""
    from db import driver, queries
    from orchestrator.cli import jobs

    gone = {int(i) for i in frame[frame["state"] == "running"]["id"]
            if jobs.driver_state(queries.sweep_details(engine, int(i))) == driver.GONE}
    return frame.assign(stored_state=frame["state"],
                        state=[("interrupted" if int(i) in gone else s) for i, s in zip(frame["id"], frame["state"])])
