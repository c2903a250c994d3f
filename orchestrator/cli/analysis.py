"""`superpos importance` (what matters across the grid), `superpos export optuna` (the studies for
Optuna's own tools) and `superpos export prompt` (a trial's learned prompt as a PEFT adapter)."""

from __future__ import annotations

from orchestrator.cli import output
from orchestrator.cli.common import fail as _fail


def _sweep_id(engine, sweep: int | None) -> int | None:
    from db import queries

    if sweep is None:
        return queries.latest_sweep_id(engine)
    queries.sweep_details(engine, sweep)  # an unknown sweep is an error
    return sweep


def cmd_importance(args) -> int:
    from db import importance
    from db.engine import open_store

    engine = open_store(args.db, readonly=True)
    sweep_id = _sweep_id(engine, args.sweep)
    if sweep_id is None:
        return _fail("the database holds no sweeps yet; run one with: superpos sweep run SPEC")
    found, same = importance.importances(engine, sweep_id)
    if args.format == "json":
        output.emit("importance", {"sweep": sweep_id, "score": "reported score at the peak epoch, per task",
                                   "evaluator": "fanova (seed 0)", "rows": output.records(found),
                                   "same_score": output.records(same)})
        return 0
    said = [f"{r.task} ({r.scope}): all {r.trials} trials scored {r.score:.1f}, so no dimension explains anything"
            for r in same.itertuples()]
    if found.empty:
        print(f"sweep {sweep_id}: nothing to compare yet (a task needs two finished trials that differ in a grid "
              "dimension: method, an option such as m, dropout, the learning rate, and in score)")
        print("\n".join(said))
        return 0
    print(f"sweep {sweep_id}: share of each task's score variance explained by each grid dimension (Optuna's "
          "fANOVA over the finished trials of the task; scores compared within a task); scope all: every trial, "
          "over method, model, dropout and lr; scope METHOD: that method's trials alone, over its options (such as m) too")
    print(found.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if said:
        print("\n".join(["", *said]))
    return 0


def cmd_export_optuna(args) -> int:
    from db import optuna_export
    from db.engine import open_store, resolve_url

    engine = open_store(args.db, readonly=True)
    sweep_id = _sweep_id(engine, args.sweep)
    if sweep_id is None:
        return _fail("the database holds no sweeps yet; run one with: superpos sweep run SPEC")
    written = optuna_export.export(engine, sweep_id, args.out, resolve_url(args.db))
    storage = args.out if "://" in args.out else f"sqlite:///{args.out}"
    print(f"wrote {len(written)} studies ({sum(written.values())} search trials) of sweep {sweep_id} to {args.out}; "
          f"open them with: optuna-dashboard {storage}, or optuna.load_study(study_name=CELL_KEY, storage={storage!r})")
    return 0


def cmd_export_prompt(args) -> int:
    from db import peft_export
    from db.engine import open_store

    engine = open_store(args.db, readonly=True)
    if args.trial is not None:
        trial_id = args.trial
    else:
        sweep_id = _sweep_id(engine, args.sweep)
        if sweep_id is None:
            return _fail("the database holds no sweeps yet; run one with: superpos sweep run SPEC")
        dropout = None if args.dropout is None else args.dropout == "on"
        trial_id = peft_export.resolve_trial(engine, sweep_id, args.seed, method=args.method, task=args.task,
                                             model=args.model, m=args.m, dropout=dropout)
    folder = peft_export.export_prompt(engine, trial_id, args.out, args.selection)
    if peft_export.target_only(engine, trial_id):
        print("note: an input-dependent method (ATTEMPT): the adapter holds its target prompt only (see its README)")
    print(f"wrote trial {trial_id}'s {args.selection} prompt as a PEFT adapter to {folder}; load it with "
          f"peft.PeftModel.from_pretrained(base_model, {str(folder)!r}) (see {folder / 'README.md'})")
    return 0
