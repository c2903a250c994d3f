"""The `superpos` command line."""

from __future__ import annotations

import argparse
import os
import sys

from orchestrator.cli.analysis import cmd_export_optuna, cmd_export_prompt, cmd_importance
from orchestrator.cli.common import DB_HELP, SPEC_HELP
from orchestrator.cli.common import fail as _fail
from orchestrator.cli.db import cmd_db_export, cmd_db_import_reference, cmd_db_upgrade
from orchestrator.cli.output import FORMAT_HELP
from orchestrator.cli.sweep import (
    cmd_sweep_cancel,
    cmd_sweep_list,
    cmd_sweep_plan,
    cmd_sweep_resume,
    cmd_sweep_run,
    cmd_sweep_schema,
    cmd_sweep_status,
    cmd_sweep_submit,
    cmd_sweep_validate,
)
from orchestrator.cli.table import cmd_table
from orchestrator.cli.tools import cmd_dashboard, cmd_model_info, cmd_trial_run


def _group(sub, name: str, help: str):
    return sub.add_parser(name, help=help).add_subparsers(dest="action", required=True)


def _command(group, name: str, func, help: str, db: bool = False, **kwargs) -> argparse.ArgumentParser:
    """A subcommand that runs `func`; `db=True` gives it the shared --db option."""
    parser = group.add_parser(name, help=help, **kwargs)
    if db:
        parser.add_argument("--db", help=DB_HELP)
    parser.set_defaults(func=func)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("superpos")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    from workers.trial import TrialConfig

    parser = argparse.ArgumentParser(
        prog="superpos",
        description="Sweeps of soft-prompt tuning on frozen T5 (SuperPos-Prompt and friends): "
                    "Ray Tune + Optuna, results in SQLite/PostgreSQL, a Streamlit dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"superpos {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    sweep = _group(sub, "sweep", "run, check, resume or list sweeps")
    _command(sweep, "run", cmd_sweep_run, "run a sweep spec (YAML) on Ray and store every trial", db=True
             ).add_argument("spec", help=SPEC_HELP)
    validate = _command(sweep, "validate", cmd_sweep_validate, "check a spec and summarise its grid; starts nothing "
                        "(a spec that consumes an earlier sweep's prompts is checked against --db)", db=True)
    validate.add_argument("spec", help=SPEC_HELP)
    validate.add_argument("--cells", action="store_true", help="list every cell (default: the first 10)")
    validate.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)
    plan = _command(sweep, "plan", cmd_sweep_plan, "what a spec will cost: cells, trials, examples per task, and "
                    "the GPU-hours and wall time of the schedule it will run (simulated from measured "
                    "throughput); starts nothing")
    plan.add_argument("spec", help=SPEC_HELP)
    plan.add_argument("--gpus", type=float, metavar="N", help="GPUs of the cluster that will run it (default: "
                      "spec.ray.num_gpus, else 1)")
    plan.add_argument("--cpus", type=float, metavar="N", help="CPUs of that cluster (default: spec.ray.num_cpus for a "
                      "CPU sweep; no limit for a GPU sweep)")
    plan.add_argument("--throughput", metavar="FILE", help="the throughput table to plan from (default: "
                      "orchestrator/throughput.json, measured on a GPU, for GPU sweeps; throughput-cpu.json, "
                      "measured on a 2-core CPU, for CPU sweeps; `python -m scripts.benchmarks.schedule "
                      "--table FILE` measures one on this machine)")
    plan.add_argument("--read-hub-data", action="store_true", help="read the hub's training splits (downloading "
                      "them as the trials will) to plan each step at its inputs' real width; without it, hub "
                      "inputs are planned at full length (an upper bound). Demo and local data are always read")
    plan.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)
    _command(sweep, "schema", cmd_sweep_schema, "print the spec's JSON Schema (for editors)")
    status = _command(sweep, "status", cmd_sweep_status, "a sweep's progress against its plan, its cells, ETA and "
                      "the table so far", db=True)
    status.add_argument("sweep", type=int, help="sweep id (superpos sweep list)")
    status.add_argument("--errors", action="store_true", help="print the traceback of every failed trial")
    status.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)
    submit = _command(sweep, "submit", cmd_sweep_submit, "run a spec on a Ray cluster as a Ray job (Jobs API)",
                      db=True)
    submit.add_argument("spec", help="a sweep spec (YAML) with ray: {address: auto}, which joins the cluster the "
                        "job runs on; it travels with the uploaded project")
    submit.add_argument("--address", required=True, help="the cluster's Jobs API, e.g. http://127.0.0.1:8265 "
                        "(an SSH tunnel to the head; never expose the port)")
    cancel = _command(sweep, "cancel", cmd_sweep_cancel, "stop a running sweep (a submitted job or a local run); "
                      "it is stored as cancelled and can be resumed", db=True)
    cancel.add_argument("sweep", type=int, help="sweep id (superpos sweep list)")
    cancel.add_argument("--no-wait", action="store_true", help="do not wait for the sweep to stop")
    resume = _command(sweep, "resume", cmd_sweep_resume, "finish a stopped sweep: continue its interrupted "
                      "trials (and failed ones with retries left) and run the missing ones; studies continue from "
                      "the store", db=True)
    resume.add_argument("sweep", type=int, help="sweep id (superpos sweep list)")
    resume.add_argument("--retry-failed", action="store_true", help="also run again the failed trials that are out "
                        "of retries (each gets spec.resources.retries more), e.g. after a lost node")
    listing = _command(sweep, "list", cmd_sweep_list, "list the sweeps in the database", db=True)
    listing.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)

    table = _command(sub, "table", cmd_table, "the paper's tables (Table 1 layout, Table 2 rule, versus the "
                     "paper) from a sweep or from the paper's numbers", db=True)
    table.add_argument("--source", help="a sweep id, or 'paper' for the imported paper numbers (default: the "
                       "latest sweep)")
    table.add_argument("--sweep", type=int, help="the same as --source SWEEP_ID")
    table.add_argument("--kind", choices=("main", "standardized", "versus"), default="main",
                       help="main: the paper's Table 1 layout; standardized: its Table 2 rule; versus: a sweep "
                            "beside the paper (or --against another sweep), with differences")
    table.add_argument("--against", help="with --kind versus: another sweep's id (differences with their noise "
                       "over seeds), or 'paper' (the default)")
    table.add_argument("--model", help="only this model's rows, e.g. google/t5-base-lm-adapt")
    table.add_argument("--format", choices=("text", "markdown", "latex", "csv", "json"), default="text",
                       help="text (terminal), markdown, latex, csv (the numbers), json (see the README)")
    table.add_argument("--selection", choices=("peak", "final"), default="peak",
                       help="score at the epoch of the best validation score, or at the last epoch")
    table.add_argument("--standardized", action="store_true", help="the same as --kind standardized")

    dash = _command(sub, "dashboard", cmd_dashboard, "start the Streamlit dashboard on 127.0.0.1", db=True)
    dash.add_argument("--port", type=int, default=8501, help="the port to serve on (default 8501)")
    dash.add_argument("--address", default="127.0.0.1", help="listen address (keep it local)")

    matters = _command(sub, "importance", cmd_importance, "what matters across the grid: per task, the share of "
                       "the score's variance each dimension explains (fANOVA)", db=True)
    matters.add_argument("--sweep", type=int, help="sweep id (default: the latest)")
    matters.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)

    exports = _group(sub, "export", "take results out to other tools")
    optuna_out = _command(exports, "optuna", cmd_export_optuna, "every cell's study into an Optuna storage of its "
                          "own (for optuna-dashboard and Optuna's API)", db=True)
    optuna_out.add_argument("--sweep", type=int, help="sweep id (default: the latest)")
    optuna_out.add_argument("--out", required=True, help="an Optuna storage: a new SQLite file (e.g. studies.db) or "
                            "an RDB URL; never the results store")

    prompt_out = _command(exports, "prompt", cmd_export_prompt, "a trial's learned prompt as a Hugging Face PEFT "
                          "adapter (PeftModel.from_pretrained loads it)", db=True,
                          description="Writes the encoder prompt a trial learned (at its peak or final epoch) as a "
                                      "PEFT prompt-tuning adapter with a model card. Name a trial by id (--trial), "
                                      "or a cell of a sweep by its values: its chosen trial, or --seed for a replica.")
    prompt_out.add_argument("--out", required=True, help="the adapter folder to write (an existing adapter is never "
                            "overwritten)")
    prompt_out.add_argument("--trial", type=int, help="a trial id (trial_summary.trial_id), instead of a cell")
    prompt_out.add_argument("--sweep", type=int, help="sweep id (default: the latest)")
    prompt_out.add_argument("--method", help="the cell's method, e.g. superpos_prompt")
    prompt_out.add_argument("--task", help="the cell's task, e.g. rte")
    prompt_out.add_argument("--model", help="the cell's model, e.g. google/t5-base-lm-adapt")
    prompt_out.add_argument("--m", type=int, help="the cell's m (SuperPos)")
    prompt_out.add_argument("--dropout", choices=("on", "off"), help="the cell's dropout")
    prompt_out.add_argument("--seed", type=int, help="the replica with this seed (default: the chosen trial)")
    prompt_out.add_argument("--selection", choices=("peak", "final"), default="peak",
                            help="the prompt at the epoch of the best validation score (default), or at the last")

    dbp = _group(sub, "db", "manage the results store")
    _command(dbp, "upgrade", cmd_db_upgrade, "create the schema, or migrate an older database to this version's",
             db=True)
    _command(dbp, "import-reference", cmd_db_import_reference, "load the paper's published numbers (idempotent)",
             db=True)
    export = _command(dbp, "export", cmd_db_export,
                      "write the views (trial_summary, best_trials, cell_results, metrics, artefacts, "
                      "reference_results) to files", db=True)
    export.add_argument("--format", choices=("csv", "parquet"), default="csv", help="one file per view or table")
    export.add_argument("--out", default="exports", help="output folder (default: ./exports)")
    export.add_argument("--sweep", type=int, help="only this sweep (default: all)")

    info = _command(_group(sub, "model", "inspect models"), "info", cmd_model_info,
                    "parameter counts of a model and a method, as JSON")
    info.add_argument("model", help="an embedded model (tiny-t5, tiny-t5-lm-adapt), an architecture preset or hub id, or a directory")
    info.add_argument("--weights", choices=("auto", "pretrained", "random"), default="auto",
                      help="auto (default): the checkpoint where it can be had, else the architecture preset with "
                           "random weights; random: the preset's architecture with random weights (no download)")
    info.add_argument("--method", default="superpos_prompt", help="method id (default: superpos_prompt)")
    info.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="a method option, e.g. --set m=64 --set n_tokens=20 (repeatable)")

    _command(
        _group(sub, "trial", "run one trial in-process (no Ray, no database)"), "run", cmd_trial_run,
        "train and evaluate one TrialConfig (YAML); one JSON line per epoch",
        description="Runs one trial in this process (no Ray, no database) and prints one JSON line per epoch. "
                    "See orchestrator/specs/trial-example.yaml.",
        epilog="trial options (YAML keys; a sweep spec's `training` takes the same, less the grid ones):\n"
               + TrialConfig.help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_argument("config", help="YAML with TrialConfig fields: method, task, model, dropout, lr, epochs, ...")
    return parser


def main(argv: list[str] | None = None) -> int:
    from db.engine import StoreError
    from orchestrator.spec import SpecError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `superpos ... | head` closed the pipe: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except StoreError as err:
        return _fail(str(err), err.exit_code)
    except (SpecError, ValueError, OSError) as err:  # OSError covers FileNotFoundError
        return _fail(str(err))
    except KeyboardInterrupt:
        return 130


