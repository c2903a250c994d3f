"""The `superpos db ...` commands: upgrade (create or migrate the schema), import-reference (the paper's
numbers), export (the views, the per-epoch metrics and the list of stored artefacts to CSV or Parquet
files)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.cli.common import fail as _fail


def cmd_db_upgrade(args) -> int:
    from db.engine import open_store
    from db.migrate import current_revision

    engine = open_store(args.db, upgrade=True)
    print(f"{engine.url.render_as_string(hide_password=True)}: at schema revision {current_revision(engine)}")
    return 0


def cmd_db_import_reference(args) -> int:
    from db.engine import open_store
    from db.reference import import_reference

    counts = import_reference(open_store(args.db))
    print("imported " + ", ".join(f"{n} rows of {source}" for source, n in counts.items()))
    return 0


def cmd_db_export(args) -> int:
    from db import artefacts, queries
    from db.engine import open_store

    engine = open_store(args.db, readonly=True)
    if args.sweep is not None:
        queries.sweep_details(engine, args.sweep)  # an unknown sweep is an error, not empty files
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return _fail(f"--out {out} is a file; the export writes a folder of files: choose a folder's path")
    out.mkdir(parents=True, exist_ok=True)
    frames = {"trial_summary": queries.trials_frame(engine, args.sweep),
              "best_trials": queries.best_trials(engine, args.sweep),
              "cell_results": queries.cell_results(engine, args.sweep),
              "metrics": queries.metrics_frame(engine, args.sweep),
              "artefacts": artefacts.listing(engine, args.sweep),  # what is stored; `export prompt` writes one
              "reference_results": queries.reference_results(engine)}
    for name, frame in frames.items():
        path = out / f"{name}.{args.format}"
        if args.format == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        print(f"wrote {len(frame)} rows to {path}")
    return 0
