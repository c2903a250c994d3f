"""What a sweep will cost before it starts: trials, examples processed per task, and the GPU-hours
and wall time of the schedule the run will follow (orchestrator/tune/schedule.py: the sweep's own
searcher forms its packs in simulated time; orchestrator/tune/pack_time.py: a pack's phases as
members leave, evaluation every epoch, compiles, start-up), from throughput measured on a device
(orchestrator/tune/measured.py reads it: orchestrator/throughput.json, or `--throughput FILE`).

A step is planned at its real width where the inputs can be read (orchestrator/tune/input_widths.py:
a sample of each task's training inputs, tokenized as the trials do; hub data only with
`--read-hub-data`), priced by the width curve the table measured; elsewhere every input is taken
at full length (an upper bound), as are rows measured per task at their own lengths. Early stopping (ASHA) and failures are
not modelled: early stopping can only make a sweep cheaper.
"""

from __future__ import annotations

from collections import Counter

from orchestrator.spec import SweepSpec
from orchestrator.spec.plan import expand
from orchestrator.tune.measured import Rates, architecture, load_throughput, train_sizes
from orchestrator.tune.packing import compile_enabled, nominal_pack_size
from orchestrator.tune.schedule import simulate, slots
from workers.methods import get_method_config


def estimate(spec: SweepSpec, table: dict | None = None, gpus: float | None = None,
             cpus: float | None = None, read_hub: bool = False) -> dict:
    """{"loads": per task, "rows": per (model, method) trials and hours (None where unmeasured), the
    schedule's wall time and parts, "missing": the (architecture, precision, method) without a
    measurement, "proxied", "unmeasured" (what the table lacks), "provenance"}. Hours are GPU-hours
    (a trial's GPUs x its time) or, for a sweep on CPUs, CPU-hours."""
    table = table if table is not None else load_throughput(None, spec)
    rates = Rates(spec, table, read_hub)
    n_slots = slots(spec, gpus, cpus)
    sizes = {m: nominal_pack_size(spec) for m in spec.models}
    plan = simulate(spec, rates.member, rates.speeds, n_slots, sizes,
                    train_sizes(spec, rates.loads) if max(sizes.values()) > 1 else None)
    share = spec.resources.gpus_per_trial or spec.resources.cpus_per_trial
    rows: dict[tuple[str, str], dict] = {}
    for member, seconds in plan.member_seconds():
        trial = member["trial"]
        row = rows.setdefault((trial["model"], trial["method"]), {"model": trial["model"], "method": trial["method"],
                                                                  "trials": 0, "hours": 0.0})
        row["trials"] += 1
        row["hours"] += share * seconds / 3600
    missing = sorted(rates.missing)
    for row in rows.values():
        if any(m[0] == architecture(row["model"]) and m[2] == row["method"] for m in missing):
            row["hours"] = None
    measured = [r["hours"] for r in rows.values() if r["hours"] is not None]
    shared = [p for p in plan.packs if get_method_config(p.members[0]["trial"]["method"]).trains_prompt]
    packed, groups = [len(p.members) for p in shared], Counter()
    for pack in shared:
        groups.update(pack.time.eval_groups)
    return {"loads": rates.loads, "rows": list(rows.values()), "missing": missing, "epochs": spec.epochs,
            "precision": rates.precision, "provenance": table.get("provenance", {}), "proxied": sorted(rates.proxied),
            "unit": "GPU-hours" if spec.resources.gpus_per_trial else "CPU-hours",
            "total_hours": sum(measured) if measured else None, "complete": not missing,
            "slots": n_slots, "wall_hours": plan.wall_s / 3600 if measured and not missing else None,
            "schedule": {"tune_trials": len(plan.packs), "mean_members": sum(packed) / max(len(packed), 1),
                         "eval_together": {size: n / sum(groups.values()) for size, n in sorted(groups.items())},
                         **{f"{part}_hours": share * plan.part(part) / 3600
                            for part in ("train", "eval", "compile", "start-up")},
                         "idle_fraction": 1 - plan.busy_s / (n_slots * plan.wall_s) if plan.wall_s else 0.0},
            "unmeasured": rates.unmeasured(), "widths": rates.widths_note(), "packing_provenance": (table.get("packing") or {}).get("provenance", {})}


def _per_task(spec: SweepSpec, cells) -> dict[str, int]:
    return {t: sum(spec.trials_per_cell(c.method) for c in cells if c.task == t) for t in spec.tasks}


def plan_data(spec: SweepSpec, est: dict | None = None) -> dict:
    """`superpos sweep plan --format json`: the grid's counts, each task's load, hours per model and
    method (null where unmeasured) and their total, the schedule's wall time, where the throughput was
    measured."""
    cells, est = expand(spec), est or estimate(spec)
    per_task = _per_task(spec, cells)
    tasks = [{"task": task, "train": load.train, "validation": load.validation, "trials": per_task[task],
              "examples_processed": per_task[task] * est["epochs"] * (load.train + load.validation),
              "sizes": load.source} for task, load in est["loads"].items()]
    gpu = est["unit"] == "GPU-hours"
    rows = [{**r, "gpu_hours": r["hours"] if gpu else None} for r in est["rows"]]
    return {"cells": len(cells), "trials": sum(per_task.values()), "epochs": est["epochs"], "precision": est["precision"],
            "pack_size": nominal_pack_size(spec), "compiled": compile_enabled(spec), "tasks": tasks,
            "unit": est["unit"], "gpu_hours": rows, "total_hours": est["total_hours"],
            "total_gpu_hours": (est["total_hours"] or 0.0) if gpu else None, "slots": est["slots"],
            "wall_hours": est["wall_hours"], "schedule": est["schedule"],
            "complete": est["complete"], "not_measured": ["/".join(m) for m in est["missing"]],
            "unmeasured_figures": est["unmeasured"], "input_widths": est["widths"],
            "planned_like": {method: like for method, like in est["proxied"]}, "throughput": est["provenance"]}


def _hours(value: float | None) -> str:
    """Hours to one decimal; below 1, three significant digits (a small sweep is not 0.0 hours)."""
    return "not measured" if value is None else f"{value:,.1f}" if value >= 1 else f"{value:.3g}"


def _schedule_lines(spec: SweepSpec, est: dict) -> list[str]:
    s, unit = est["schedule"], est["unit"]
    where = (f"{est['slots']} trial(s) at once ({spec.resources.gpus_per_trial:g} GPU each)" if spec.resources.gpus_per_trial
             else f"{est['slots']} trial(s) at once ({spec.resources.cpus_per_trial:g} CPU each)")
    joining = ", new ones joining as others leave" if spec.resources.continuous_packing else ""
    packs = (f"prompt methods' packs: {s['mean_members']:.1f} members each on average{joining}"
             if s["mean_members"] > 1 else "one trial each")
    lines = [f"schedule: {s['tune_trials']:,} Tune trials ({packs})" + ("" if est["total_hours"] is None else
             f"; {unit}: training {_hours(s['train_hours'])}, evaluation {_hours(s['eval_hours'])}, "
             f"compiling {_hours(s['compile_hours'])}, start-up {_hours(s['start-up_hours'])}")]
    if s["mean_members"] > 1 and s["eval_together"]:
        shares = [(f"{100 * share:.0f}% " if share >= 0.005 else "<1% ") + ("alone" if size == 1 else f"{size} together")
                  for size, share in s["eval_together"].items()]
        lines.append("evaluation: the prompt methods' evaluated examples, by members evaluated together (those whose "
                     f"epochs end in the same step): {', '.join(shares)}")
    if est["wall_hours"] is not None:
        hours = est["wall_hours"]
        shown = f"{hours:,.1f} h" if hours >= 1 else f"{hours * 60:,.1f} min"
        lines.append(f"wall time: {shown} with {where}; slots idle {100 * s['idle_fraction']:.0f}% of it "
                     f"(waits for searches, sources and the last trials); "
                     f"`--{'gpus' if spec.resources.gpus_per_trial else 'cpus'} N` plans another cluster")
    lines += est["widths"]
    if est["unmeasured"]:
        lines.append("not in the throughput table: " + "; ".join(est["unmeasured"]))
    return lines


def format_plan(spec: SweepSpec, source: str, est: dict | None = None, table_path: str | None = None) -> str:
    """The text of `superpos sweep plan`."""
    cells, est = expand(spec), est or estimate(spec)
    per_task = _per_task(spec, cells)
    trials = sum(per_task.values())
    lines = [f"{source}: {len(cells)} cells = {len(spec.methods)} methods (with their option grids) x "
             f"{len(spec.tasks)} tasks x {len(spec.models)} models x {len(spec.dropout)} dropout settings"
             f"{spec.grid_note()}", *spec.stage_lines(cells),
             f"trials: {trials} ({spec.optuna.sampler} search per cell + {spec.replicas} replica seed(s)), "
             f"{est['epochs']} epochs each, precision {est['precision']}", "",
             f"{'task':<8} {'train':>9} {'validation':>10} {'trials':>7} {'examples processed':>19}  sizes"]
    total_examples = 0
    for task, load in est["loads"].items():
        processed = per_task[task] * est["epochs"] * (load.train + load.validation)
        total_examples += processed
        lines.append(f"{task:<8} {load.train:>9,} {load.validation:>10,} {per_task[task]:>7,} {processed:>19,}  "
                     f"{load.source}")
    lines += [f"{'all':<8} {'':>9} {'':>10} {trials:>7,} {total_examples:>19,}", ""]
    prov, packing = est["provenance"], est["packing_provenance"]
    pack, compiled = nominal_pack_size(spec), compile_enabled(spec)
    alone = "GPU" if spec.resources.gpus_per_trial else "worker"
    how = (f"one trial per {alone}" if pack == 1 and not compiled else
           f"prompt methods in packs of up to {pack}{', compiled' if compiled else ''} (speed-ups measured on "
           f"{packing.get('device', '?')}), full fine-tuning one trial per {alone}")
    lines.append(f"{est['unit']}, {how}, from throughput measured on {prov.get('device', '?')} "
                 f"({prov.get('date', '?')}; {prov.get('inputs', '')}"
                 f"{'; ' + table_path if table_path else ''}):")
    for row in est["rows"]:
        lines.append(f"  {row['model']:<34} {row['method']:<16} {row['trials']:>6,} trials  {_hours(row['hours']):>12}")
    lines.append(f"  {'total':<34} {'':<16} {trials:>6,} trials  {_hours(est['total_hours']):>12}"
                 + ("  (without the rows not measured)" if est["missing"] and est["total_hours"] is not None else ""))
    lines += _schedule_lines(spec, est)
    for method, like in est["proxied"]:
        lines.append(f"{method}: not measured; planned at {like}'s measured throughput (the same encoder length; "
                     f"its own computation is negligible beside the T5's); measure it to replace this")
    if est["missing"]:
        lines.append("not measured: " + ", ".join("/".join(m) for m in est["missing"])
                     + "; measure with `python -m scripts.benchmarks.throughput --models ARCH --precision P` on a GPU"
                     + ("" if spec.resources.gpus_per_trial else ", or plan this CPU sweep from a table measured on "
                        "this machine: `python -m scripts.benchmarks.schedule` writes one (--throughput FILE)"))
    return "\n".join(lines)
