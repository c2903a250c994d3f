"""`superpos sweep plan`: every shipped spec is valid, and the estimate is the arithmetic it claims."""

from __future__ import annotations

import csv

import pytest

from orchestrator.cli.cost import estimate, format_plan
from orchestrator.spec import load_spec, parse_spec
from orchestrator.spec.plan import expand
from orchestrator.tune.measured import load_throughput, task_load
from tests.cli_here import superpos
from tests.conftest import REPO
from workers.shapes import encoder_widths

SPECS = sorted((REPO / "orchestrator" / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in SPECS if p.name != "trial-example.yaml"], ids=lambda p: p.name)
def test_every_shipped_sweep_spec_is_valid_and_plans(path):
    spec = load_spec(path)
    text = format_plan(spec, path.name)
    assert f"{spec.n_cells()} cells" in text and ("GPU-hours" if spec.resources.gpus_per_trial else "CPU-hours") in text
    assert "schedule:" in text


def test_the_paper_table1_spec_is_the_papers_grid():
    spec = load_spec(REPO / "orchestrator" / "specs" / "paper-table1.yaml")
    # 3 prompt methods on every task, ATTEMPT on the 9 that are not its sources, both dropout settings; full
    # fine-tuning on every task with dropout on only (the paper's); both models
    assert spec.n_cells() == ((3 * 13 + 9) * 2 + 13) * 2 and spec.epochs == 80 and spec.optuna.sampler == "fixed"
    cells = expand(spec)
    assert {c.dropout for c in cells if c.method == "full_finetune"} == {True}
    assert {c.dropout for c in cells if c.method != "full_finetune"} == {True, False}
    paper = {(r["model"], r["method"], r["dropout"] == "on", r["task"])
             for r in csv.DictReader((REPO / "db" / "reference_data" / "paper_table1.csv").open())}
    assert {(c.model, c.method, c.dropout, c.task) for c in cells} == paper  # the paper's Table 1, cell for cell
    assert set(spec.models) == {"google/t5-small-lm-adapt", "google/t5-base-lm-adapt"}
    est = estimate(spec)
    assert not est["missing"] and all(row["hours"] > 0 for row in est["rows"])  # measured on a GPU
    assert est["proxied"] == [("attempt", "prompt_tuning")]  # unmeasured: planned at prompt tuning's rate, and said
    assert est["provenance"]["device"] and est["provenance"]["date"]


def test_hours_are_trials_times_epochs_times_examples_over_throughput():
    """One trial per slot, nothing packed, no overheads measured: the plan is the arithmetic."""
    spec = parse_spec("methods: [prompt_tuning]\ntasks: [rte, cb]\ndropout: [on, off]\nseeds: [0, 1]\n"
                      "optuna: {trials_per_cell: 3}\ntraining: {epochs: 2, data: hub, max_train_samples: 1000}\n"
                      "resources: {gpus_per_trial: 1, pack_size: 1, compile: false}\n")
    table = {"provenance": {"device": "test"}, "rows": [
        {"architecture": "tiny-t5", "precision": "fp32", "method": "prompt_tuning",
         "train_examples_per_s": 100.0, "eval_examples_per_s": 50.0}]}
    est = estimate(spec, table)
    rte, cb = task_load(spec, "rte"), task_load(spec, "cb")
    assert (rte.train, rte.validation, cb.train, cb.validation) == (1000, 277, 250, 56)  # hub sizes, capped
    trials = 2 * (3 + 1)  # per task: 2 dropout cells x (3 search + 1 replica)
    seconds = trials * 2 * ((1000 / 100 + 277 / 50) + (250 / 100 + 56 / 50))
    assert est["rows"][0]["trials"] == 2 * trials
    assert est["rows"][0]["hours"] == pytest.approx(seconds / 3600)
    assert est["wall_hours"] == pytest.approx(seconds / 3600)  # one GPU: back to back
    assert "worker and trial start-up, per-epoch checkpoints (planned at 0 s)" in est["unmeasured"]


def test_an_evaluation_rate_measured_at_another_batch_than_the_trials_is_named():
    """The GPU table timed evaluation at the training batch (32) while trials evaluate at 64: the plan
    prices it per example as measured and says so, until a table measures it at the trials' batch."""
    row = {"architecture": "tiny-t5", "precision": "fp32", "method": "prompt_tuning", "batch_size": 32,
           "train_examples_per_s": 100.0, "eval_examples_per_s": 50.0}
    text = "methods: [prompt_tuning]\ntasks: [rte]\nmodels: [tiny-t5]\nresources: {gpus_per_trial: 1}\n"

    def note(spec_text: str, **measured) -> str:
        est = estimate(parse_spec(spec_text), {"provenance": {"device": "test"}, "rows": [{**row, **measured}]})
        return "; ".join(est["unmeasured"])

    assert "evaluation at the trials' own batch size (measured at batch 32, trials evaluate at 64: tiny-t5" in note(text)
    assert "trials' own batch size" not in note(text, eval_batch_size=64)  # measured at a trial's batch
    assert "trials' own batch size" not in note(text.replace("resources:", "training: {eval_batch_size: 32}\nresources:"))
    assert "measured at batch 64, trials evaluate at 16" in note(
        text.replace("resources:", "training: {eval_batch_size: 16}\nresources:"), eval_batch_size=64)


def test_demo_sizes_come_from_the_demo_copy_and_a_cpu_sweep_plans_from_the_cpu_table():
    spec = load_spec(REPO / "orchestrator" / "specs" / "demo.yaml")
    load = task_load(spec, "rte")
    assert (load.train, load.validation, load.source) == (256, 64, "demo copy")
    est = estimate(spec)  # gpus_per_trial 0: the table measured on a CPU (orchestrator/throughput-cpu.json)
    assert not est["missing"] and est["unit"] == "CPU-hours" and est["wall_hours"] > 0
    assert "cpu" in est["provenance"]["device"] and est["slots"] == 2  # ray.num_cpus 2 / cpus_per_trial 1
    other = parse_spec("methods: [prompt_tuning]\ntasks: [rte]\nmodels: [tiny-t5]\nresources: {gpus_per_trial: 0}\n")
    text = format_plan(other, "other.yaml")  # the random tiny-t5 is not in that table: named, no made-up total
    total = next(line for line in text.splitlines() if line.strip().startswith("total"))
    assert total.rstrip().endswith("not measured") and "0.0" not in total
    assert "wall time" not in text and "tiny-t5/fp32/prompt_tuning" in text
    assert "python -m scripts.benchmarks.schedule" in text  # where a CPU table comes from


def test_the_shipped_throughput_table_has_its_provenance():
    table = load_throughput()
    assert {"device", "date", "command"} <= set(table["provenance"])
    assert {(r["architecture"], r["method"]) for r in table["rows"]} >= {("google/t5-base-lm-adapt", "superpos_prompt")}


def test_plan_command_prints_the_summary():
    out = superpos("sweep", "plan", REPO / "orchestrator" / "specs" / "paper-m-ablation.yaml")
    assert out.returncode == 0, out.stderr
    assert "49 cells" in out.stdout and "GPU-hours" in out.stdout  # 7 values of m x 7 tasks


def test_packs_divide_the_training_time_by_the_speed_up_of_the_members_stepping():
    body = ("methods: [prompt_tuning, full_finetune]\ntasks: [rte]\ndropout: [off]\noptuna: {trials_per_cell: 4}\n"
            "training: {epochs: 1, data: hub, max_train_samples: 2464}\nresources: {gpus_per_trial: 1, pack_size: PACK, compile: COMPILE}\n")  # full batches
    rows = [{"architecture": "tiny-t5", "precision": "fp32", "method": m, "train_examples_per_s": 100.0,
             "eval_examples_per_s": 1e12} for m in ("prompt_tuning", "full_finetune")]
    curves = {"eager": {"1": 1.0, "4": 2.0}, "compiled": {"1": 3.0, "4": 6.0, "8": 6.5}}
    table = {"provenance": {}, "rows": rows, "packing": {"train_speedup_over_solo_eager": curves}}

    def hours(pack, compile):
        spec = parse_spec(body.replace("PACK", str(pack)).replace("COMPILE", str(compile).lower()))
        return {r["method"]: r["hours"] for r in estimate(spec, table)["rows"]}

    alone = hours(1, False)
    assert hours(4, False)["prompt_tuning"] == pytest.approx(alone["prompt_tuning"] / 2.0, rel=1e-3)
    # 4 search trials of one cell: packs of 6 or 8 hold the 4 of them, at the curve's value for 4
    assert hours(6, True)["prompt_tuning"] == pytest.approx(alone["prompt_tuning"] / 6.0, rel=1e-3)
    assert hours("auto", "auto")["prompt_tuning"] == pytest.approx(alone["prompt_tuning"] / 6.0, rel=1e-3)
    # 2 members: eager interpolates between 1x and 2x (4/3x); compiled computes row_bucket's 2 batches at 3 + 1/3 * 3
    assert hours(2, False)["prompt_tuning"] == pytest.approx(alone["prompt_tuning"] / (4 / 3), rel=1e-3)
    assert hours(2, True)["prompt_tuning"] == pytest.approx(alone["prompt_tuning"] / 4.0, rel=1e-3)
    assert hours("auto", "auto")["full_finetune"] == alone["full_finetune"]  # never packed nor compiled


def test_a_compiled_pack_plans_evaluation_from_the_compiled_curve_and_its_compiles():
    body = ("methods: [prompt_tuning]\ntasks: [rte]\ndropout: [off]\noptuna: {trials_per_cell: 4}\n"
            "training: {epochs: 1, data: hub, max_train_samples: 64, eval_batch_size: 16}\n"
            "resources: {gpus_per_trial: 1, pack_size: 4, compile: COMPILE}\n")
    rows = [{"architecture": "tiny-t5", "precision": "fp32", "method": "prompt_tuning", "train_examples_per_s": 1e12,
             "eval_examples_per_s": 1.0}]
    packing = {"eval_speedup": {"generate": {"1": 1.0, "4": 2.0}}, "compile_s_per_shape": 50.0,
               "compiled_eval_speedup": {"generate": {"1": 1.0, "4": 4.0}}, "eval_compile_s_per_shape": 5.0}
    table = {"provenance": {}, "rows": rows, "packing": packing}

    def planned(compile):
        return estimate(parse_spec(body.replace("COMPILE", compile)), table)

    eager, compiled = planned("false"), planned("true")
    validation = 4 * 277 / 3600  # 4 members x rte's 277 validation examples at 1 example/s, in hours
    assert eager["schedule"]["eval_hours"] == pytest.approx(validation / 2.0, rel=1e-3)
    assert compiled["schedule"]["eval_hours"] == pytest.approx(validation / 4.0, rel=1e-3)
    # the evaluation's encoder: one shape per width bucket up to the widest input (10 + 256 tokens)
    # and one for the short last pass, at 5 s each; the step's shapes at 50 s
    widths = len(encoder_widths(266))
    assert compiled["schedule"]["compile_hours"] == pytest.approx((widths * 50.0 + (widths + 1) * 5.0) / 3600, rel=1e-3)
    table["packing"].pop("eval_compile_s_per_shape")
    notes = " ".join(estimate(parse_spec(body.replace("COMPILE", "true")), table)["unmeasured"])
    assert "packed evaluation's compile time" in notes


def test_a_local_parquet_folder_is_planned_with_its_own_sizes(tmp_path):
    """The trials read .jsonl, .json and .parquet: so does the planner (it planned a parquet folder
    with the hub's sizes)."""
    import pandas as pd

    from workers.data import load_rows
    from workers.tasks import get_task

    rte = get_task("rte")
    (tmp_path / "rte").mkdir()
    for split, n in (("train", 40), ("validation", 12)):
        pd.DataFrame(load_rows(rte, split)[:n]).to_parquet(tmp_path / "rte" / f"{split}.parquet")
    spec = parse_spec(f"methods: [prompt_tuning]\ntasks: [rte]\ntraining: {{data: {tmp_path}}}\n")
    load = task_load(spec, "rte")
    assert (load.train, load.validation, load.source) == (40, 12, "local")
