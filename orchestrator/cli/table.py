"""`superpos table`: the paper's tables (db/tables.py), from a sweep, the paper, or two sweeps side by side."""

from __future__ import annotations

from orchestrator.cli import output
from orchestrator.cli.common import fail as _fail


def cmd_table(args) -> int:
    """The paper's tables from a sweep or from the imported paper numbers (db/tables.py)."""
    from db import formats, queries, tables
    from db.engine import open_store

    engine = open_store(args.db, readonly=True)
    kind = "standardized" if args.standardized else args.kind
    source = args.source if args.source is not None else args.sweep
    if source is None:
        source = queries.latest_sweep_id(engine)
        if source is None:
            return _fail("the database holds no sweeps yet; run one with: superpos sweep run SPEC "
                         "(or show the paper's numbers: superpos table --source paper)")
    elif source != "paper":
        if not str(source).isdigit():
            return _fail(f"--source takes a sweep id or 'paper', got {source!r}")
        source = int(source)
        queries.sweep_details(engine, source)  # an unknown sweep is an error, not an empty table
    elif queries.reference_results(engine, "paper_table1").empty:
        return _fail("no paper numbers in this database yet; load them with: superpos db import-reference")
    against = args.against
    if against is not None:
        if kind != "versus":
            return _fail("--against compares two sweeps: use it with --kind versus")
        if against != "paper":
            if not str(against).isdigit():
                return _fail(f"--against takes a sweep id or 'paper', got {against!r}")
            against = int(against)
            queries.sweep_details(engine, against)
        elif queries.reference_results(engine, "paper_table1").empty:
            return _fail("no paper numbers in this database yet; load them with: superpos db import-reference")
    table, numbers = tables.build(engine, kind, source, args.selection, args.model, against=against)
    if table.empty and args.model is not None:  # a typo read as an empty sweep
        models = sorted(set(tables.scores(engine, source, args.selection)["model"]))
        if models and args.model not in models:
            what = "the paper's Table 1" if source == "paper" else f"sweep {source}"
            return _fail(f"--model {args.model!r} has no rows in {what}; its models: {', '.join(models)}")
    if args.format == "json":
        long = tables.sweep_scores(engine, source, args.selection) if kind == "main" and source != "paper" else (
            tables.paper_scores(engine, args.model) if kind == "main" else None)
        if long is not None and args.model is not None:
            long = long[long["model"] == args.model]
        output.emit("table", output.table(kind, source, against, args.selection, table, numbers, long))
        return 0
    if args.format == "text":
        what = "the paper's Table 1" if source == "paper" else f"sweep {source}, {args.selection} epoch"
        print(f"{kind} table, {what} " + HEADERS[kind if kind != "versus" or against in (None, "paper") else "sweeps"])
    if table.empty and kind == "versus":
        print(NO_SHARED["sweeps" if against not in (None, "paper") else "paper"].format(a=source, b=against))
        return 0
    print(formats.render(table, numbers, args.format))
    return 0


HEADERS = {
    "main": "(scores in %; † no valid output; * best of a column, with the rows within its seeds' noise; "
            "±std over seeds)",
    "standardized": "(each task min-max scaled to 0..100 over the rows; mean and population std over the tasks; "
                    "a task on which every row ties is left out: `tasks` counts the ones scaled)",
    "versus": "beside the paper's Table 1 (scores in %; difference = ours - paper; averages over the shared tasks)",
    "sweeps": "(scores in %; difference = this sweep - the other, with its 95% interval and p of Welch's t-test "
              "over seeds; 'within noise': the interval holds 0)",
}
NO_SHARED = {
    "paper": "(no rows: no row and task of sweep {a} is in the paper's Table 1, whose models are "
             "google/t5-small-lm-adapt and google/t5-base-lm-adapt with SuperPos at m = 128 and no other options)",
    "sweeps": "(no rows: sweeps {a} and {b} share no cell: the same model, method, options, dropout and task)",
}
