"""What a sweep will cost before it starts: trials, examples processed per task, and GPU-hours from
measured throughput (orchestrator/throughput.json, written by `python -m scripts.benchmarks.throughput`
on a GPU, with its device and date).

The estimate assumes every epoch evaluated on the validation split (and the test split under a
holdout protocol) and inputs of the measured length (256 tokens): an upper bound where inputs are
shorter. Prompt methods train in packs (`resources.pack_size`, `compile`): their training time is
divided by the measured speed-up of that pack size over one eager trial (throughput.json's
`packing`, from `python -m scripts.benchmarks.packing`); evaluation is planned at the unpacked rate (packed evaluation is not measured on a GPU yet). Early stopping
(ASHA) can only make a sweep cheaper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.spec import SweepSpec
from orchestrator.spec.plan import Cell, expand
from orchestrator.tune.packing import compile_enabled, group, nominal_pack_size
from workers.data import DEMO_DATA_DIR, load_rows, local_files
from workers.methods import METHOD_CONFIGS
from workers.presets import RANDOM_PREFIX
from workers.tasks import get_task

THROUGHPUT = Path(__file__).resolve().parents[1] / "throughput.json"


@dataclass(frozen=True)
class TaskLoad:
    task: str
    train: int  # examples per epoch
    validation: int
    source: str  # where the sizes come from


def task_load(spec: SweepSpec, task: str) -> TaskLoad:
    """Examples per epoch of one task: the demo copy's or a local folder's (any layout the trials read:
    .jsonl, .json, .parquet; counted as the trials load them), else the hub's sizes;
    `max_train_samples` / `max_eval_samples` cap them."""
    t = get_task(task)
    data = str(spec.training.get("data", "demo"))
    root = DEMO_DATA_DIR if data == "demo" else Path(data)
    try:
        if data == "hub":
            raise FileNotFoundError
        for split in (t.train_split, t.validation_split):
            local_files(root, t, split)
        train, validation = (len(load_rows(t, split, data)) for split in (t.train_split, t.validation_split))
        source = "demo copy" if data == "demo" else "local"
    except FileNotFoundError:
        (train, validation), source = t.hub_sizes, "hub sizes"
    cap_train, cap_eval = spec.training.get("max_train_samples"), spec.training.get("max_eval_samples")
    return TaskLoad(task, min(train, cap_train or train), min(validation, cap_eval or validation), source)


def load_throughput(path: Path = THROUGHPUT) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {"provenance": {}, "rows": []}


def _architecture(model: str) -> str:
    return model.removeprefix(RANDOM_PREFIX)


def train_speedup(spec: SweepSpec, cell: Cell, table: dict) -> float:
    """Aggregate training throughput of this cell's trials in their packs, over one eager trial: the
    measured curve at the largest measured pack size not above the planned one (1.0 unmeasured)."""
    curves = (table.get("packing") or {}).get("train_speedup_over_solo_eager")
    if not curves or group(spec, cell) is None:
        return 1.0
    curve = curves["compiled" if compile_enabled(spec) else "eager"]
    sizes = [int(k) for k in curve if int(k) <= nominal_pack_size(spec)]
    return curve[str(max(sizes))] if sizes else 1.0


def estimate(spec: SweepSpec, table: dict | None = None) -> dict:
    """{"loads": per task, "rows": per (model, method) trials and GPU-hours (None where unmeasured),
    "missing": the (architecture, precision, method) without a measurement, "provenance"}."""
    table = table if table is not None else load_throughput()
    rates = {(r["architecture"], r["precision"], r["method"]): r for r in table["rows"]}
    precision = spec.training.get("precision", "fp32")
    epochs = spec.epochs
    loads = {task: task_load(spec, task) for task in spec.tasks}
    rows: dict[tuple[str, str], dict] = {}
    missing, proxied = set(), set()
    for cell in expand(spec):
        n = spec.trials_per_cell(cell.method)
        load = loads[cell.task]
        row = rows.setdefault((cell.model, cell.method), {"model": cell.model, "method": cell.method, "trials": 0,
                                                           "gpu_hours": 0.0})
        row["trials"] += n
        rate = rates.get((_architecture(cell.model), precision, cell.method))
        like = METHOD_CONFIGS[cell.method].planned_like
        if rate is None and like and (_architecture(cell.model), precision, like) in rates:
            rate = rates[(_architecture(cell.model), precision, like)]
            proxied.add((cell.method, like))
        if rate is None:
            missing.add((_architecture(cell.model), precision, cell.method))
            row["gpu_hours"] = None
        elif row["gpu_hours"] is not None:
            train_rate = rate["train_examples_per_s"] * train_speedup(spec, cell, table)
            seconds = epochs * (load.train / train_rate + load.validation / rate["eval_examples_per_s"])
            row["gpu_hours"] += n * seconds / 3600
    return {"loads": loads, "rows": list(rows.values()), "missing": sorted(missing), "epochs": epochs,
            "precision": precision, "provenance": table.get("provenance", {}), "proxied": sorted(proxied)}


def plan_data(spec: SweepSpec) -> dict:
    """`superpos sweep plan --format json`: the grid's counts, each task's load, GPU-hours per model and
    method (null where unmeasured) and their total, where the throughput was measured."""
    cells, est = expand(spec), estimate(spec)
    trials = sum(spec.trials_per_cell(c.method) for c in cells)
    per_task = {t: sum(spec.trials_per_cell(c.method) for c in cells if c.task == t) for t in spec.tasks}
    tasks = [{"task": task, "train": load.train, "validation": load.validation, "trials": per_task[task],
              "examples_processed": per_task[task] * est["epochs"] * (load.train + load.validation),
              "sizes": load.source} for task, load in est["loads"].items()]
    measured = [r["gpu_hours"] for r in est["rows"] if r["gpu_hours"] is not None]
    return {"cells": len(cells), "trials": trials, "epochs": est["epochs"], "precision": est["precision"],
            "pack_size": nominal_pack_size(spec), "compiled": compile_enabled(spec), "tasks": tasks,
            "gpu_hours": est["rows"], "total_gpu_hours": sum(measured),
            "complete": not est["missing"], "not_measured": ["/".join(m) for m in est["missing"]],
            "planned_like": {method: like for method, like in est["proxied"]},
            "throughput": est["provenance"]}


def format_plan(spec: SweepSpec, source: str) -> str:
    """The text of `superpos sweep plan`."""
    cells = expand(spec)
    est = estimate(spec)
    trials = sum(spec.trials_per_cell(c.method) for c in cells)
    lines = [f"{source}: {len(cells)} cells = {len(spec.methods)} methods (with their option grids) x "
             f"{len(spec.tasks)} tasks x {len(spec.models)} models x {len(spec.dropout)} dropout settings"
             f"{spec.grid_note()}", *spec.stage_lines(cells),
             f"trials: {trials} ({spec.optuna.sampler} search per cell + {spec.replicas} replica seed(s)), "
             f"{est['epochs']} epochs each, precision {est['precision']}", "",
             f"{'task':<8} {'train':>9} {'validation':>10} {'trials':>7} {'examples processed':>19}  sizes"]
    per_task = {t: sum(spec.trials_per_cell(c.method) for c in cells if c.task == t) for t in spec.tasks}
    total_examples = 0
    for task, load in est["loads"].items():
        processed = per_task[task] * est["epochs"] * (load.train + load.validation)
        total_examples += processed
        lines.append(f"{task:<8} {load.train:>9,} {load.validation:>10,} {per_task[task]:>7,} {processed:>19,}  "
                     f"{load.source}")
    lines.append(f"{'all':<8} {'':>9} {'':>10} {trials:>7,} {total_examples:>19,}")
    lines.append("")
    prov = est["provenance"]
    packing = (load_throughput().get("packing") or {}).get("provenance", {})
    pack, compiled = nominal_pack_size(spec), compile_enabled(spec)
    how = ("one trial per GPU" if pack == 1 and not compiled else
           f"prompt methods in packs of {pack}{', compiled' if compiled else ''} (training speed-up measured on "
           f"{packing.get('device', '?')}), full fine-tuning one trial per GPU")
    lines.append(f"GPU-hours, {how}, from throughput measured on {prov.get('device', '?')} "
                 f"({prov.get('date', '?')}; {prov.get('inputs', '')}; an upper bound for shorter inputs):")
    total = 0.0
    for row in est["rows"]:
        hours = "not measured" if row["gpu_hours"] is None else f"{row['gpu_hours']:,.1f}"
        total += row["gpu_hours"] or 0.0
        lines.append(f"  {row['model']:<34} {row['method']:<16} {row['trials']:>6,} trials  {hours:>12}")
    measured = any(row["gpu_hours"] is not None for row in est["rows"])
    shown = f"{total:>12,.1f}" if measured else f"{'not measured':>12}"
    lines.append(f"  {'total':<34} {'':<16} {trials:>6,} trials  {shown}"
                 + ("  (without the rows not measured)" if est["missing"] and measured else ""))
    for method, like in est["proxied"]:
        lines.append(f"{method}: not measured; planned at {like}'s measured throughput (the same encoder length; "
                     f"its own computation is negligible beside the T5's); measure it on a GPU to replace this")
    if est["missing"]:
        lines.append("not measured: " + ", ".join("/".join(m) for m in est["missing"])
                     + "; measure with `python -m scripts.benchmarks.throughput --models ARCH --precision P` on a GPU")
    if not spec.resources.gpus_per_trial:
        lines.append("this spec runs its trials on CPUs (resources.gpus_per_trial: 0): the GPU-hours above do not "
                     "apply; for its time, run it and read the ETA of `superpos sweep status` (from the trials done)")
    return "\n".join(lines)
