"""The schedule model behind `superpos sweep plan`: a pack's phases, compiles, and the sweep's own
searcher driven in simulated time (replicas and stage 2 wait, slots run side by side)."""

from __future__ import annotations

import pytest

from orchestrator.cli.cost import estimate
from orchestrator.spec import parse_spec
from orchestrator.tune.pack_time import MemberLoad, Speeds, interpolate, pack_time
from orchestrator.tune.packing import nearness

TABLE = {"provenance": {"device": "test"}, "rows": [
    {"architecture": "tiny-t5", "precision": "fp32", "method": m, "train_examples_per_s": 100.0,
     "eval_examples_per_s": 50.0} for m in ("prompt_tuning", "superpos_prompt", "attempt", "full_finetune")]}


def member(steps_per_epoch: int, epochs: int = 2, batch: int = 4, widest: int = 64) -> MemberLoad:
    return MemberLoad("tiny-t5", "prompt_tuning", batch, steps_per_epoch, epochs, eval_examples=10,
                      train_s=0.01, eval_s=0.1, widest=widest)


def test_the_curve_interpolates_between_measured_pack_sizes_and_never_extrapolates_up():
    curve = {1: 1.0, 4: 2.5, 8: 3.0}
    assert interpolate(curve, 1) == 1.0 and interpolate(curve, 2) == pytest.approx(1.5)
    assert interpolate(curve, 6) == pytest.approx(2.75) and interpolate(curve, 16) == 3.0
    assert interpolate({4: 2.0}, 2) == pytest.approx(1.0)  # below the smallest measured size: from (0, 0)


def test_a_pack_runs_in_phases_as_its_members_leave_and_evaluates_together_when_epochs_end_together():
    long, short = member(10), member(5)
    speeds = Speeds(train={1: 1.0, 2: 1.5}, eval={1: 1.0, 2: 2.0})
    t = pack_time([long, short], speeds)
    both, alone = 2 * 4 * 0.01 / 1.5, 4 * 0.01  # a step with both members / with the long one alone
    solo_eval, joint_eval = 10 * 0.1, 10 * 0.1 / 2.0
    # steps 1-5: both; the short one's epoch 1 ends (alone); steps 6-10: both, and both epochs end
    # together (the short one's last: it leaves); steps 11-20: the long one alone, which evaluates at 20
    short_end = 10 * both + solo_eval + 2 * joint_eval
    assert t.ends[1] == pytest.approx(short_end)
    assert t.ends[0] == t.duration == pytest.approx(short_end + 10 * alone + solo_eval)
    assert sum(t.shares) == pytest.approx(t.duration)
    assert t.parts["train"] == pytest.approx(10 * both + 10 * alone)


def test_a_compiled_pack_computes_bucketed_rows_and_compiles_each_shape_once_per_worker():
    a, b = member(10, batch=4, widest=64), member(5, batch=4, widest=64)
    speeds = Speeds(train={1: 2.0, 2: 4.0}, compiled=True, compile_s=10.0, eval_compile_s=3.0)
    seen: set = set()
    first = pack_time([a, b, member(10)], speeds, seen)
    steps = {s for s in seen if len(s) == 3}  # (model, rows, width) of the training step
    # 3 members of 4 rows: 4 batches' rows capped at the full pack's 12; once one left: 2 batches' 8
    assert {rows for _, rows, _ in steps} == {12, 8}
    assert {w for *_, w in steps} == {32, 64}
    # the epochs of all three end together at step 10, then of the two long ones at 20: packed
    # evaluations at token budgets of 3 and 2 members x 64 rows x 64 tokens, each over widths 32 and 64
    evals = seen - steps
    # (and the pool's short last pass)
    budgets = (3 * 64 * 64, 2 * 64 * 64)
    assert {(budget, w) for _, _, budget, w in evals} == {(b, w) for b in budgets for w in (32, 64, "last")}
    assert first.parts["compile"] == 4 * 10.0 + 6 * 3.0  # step widths x row counts, evaluation budgets x shapes
    again = pack_time([a, b, member(10)], speeds, seen)
    assert again.parts["compile"] == 0.0 and again.duration == pytest.approx(first.duration - 58.0)
    cold = pack_time([a], Speeds(train={1: 1.0}, worker_s=7.0), cold=True)
    assert cold.parts["start-up"] == 7.0  # a new worker process's start, once


def test_packs_fill_with_their_task_then_the_nearest_sizes():
    sizes = {"qqp": 363_846, "mnli": 392_702, "cb": 250, "copa": 400, "rte": 2_490}
    order = sorted(sizes, key=lambda task: nearness(sizes, "cb", task))
    assert order == ["cb", "copa", "rte", "qqp", "mnli"]
    spec = parse_spec("methods: [prompt_tuning, superpos_prompt]\ntasks: [qqp, cb, mnli, copa]\nm: [8]\n"
                      "dropout: [off]\noptuna: {trials_per_cell: 1}\ntraining: {epochs: 1, data: hub}\n"
                      "resources: {gpus_per_trial: 1, pack_size: 4}\n")
    est = estimate(spec, TABLE, gpus=2)
    assert est["schedule"]["tune_trials"] == 2 and est["schedule"]["mean_members"] == 4.0
    from orchestrator.tune.measured import Rates, train_sizes
    from orchestrator.tune.schedule import simulate

    rates = Rates(spec, TABLE)
    plan = simulate(spec, rates.member, rates.speeds, 2, {m: 4 for m in spec.models}, train_sizes(spec, rates.loads))
    packs = sorted(sorted(m["trial"]["task"] for m in p.members) for p in plan.packs)
    assert packs == [["cb", "cb", "copa", "copa"], ["mnli", "mnli", "qqp", "qqp"]]  # plan order would mix qqp and cb


def _starts(spec_text: str, gpus: int):
    from orchestrator.tune.measured import Rates
    from orchestrator.tune.schedule import simulate

    spec = parse_spec(spec_text)
    rates = Rates(spec, TABLE)
    return simulate(spec, rates.member, rates.speeds, gpus, {m: 1 for m in spec.models})


def test_with_continuous_packing_members_join_a_running_pack_as_others_leave():
    from orchestrator.tune.measured import Rates
    from orchestrator.tune.schedule import simulate

    text = ("methods: [prompt_tuning]\ntasks: [rte, cb]\ndropout: [off]\nseeds: [0, 1]\n"
            "optuna: {trials_per_cell: 3}\ntraining: {epochs: 2, data: hub}\n"
            "resources: {gpus_per_trial: 1, pack_size: 2, compile: false, continuous_packing: CP}\n")
    table = {**TABLE, "packing": {"train_speedup_over_solo_eager": {"eager": {"1": 1.0, "2": 1.8}}}}
    plans = {}
    for on in (True, False):
        spec = parse_spec(text.replace("CP", str(on).lower()))
        rates = Rates(spec, table)
        plans[on] = simulate(spec, rates.member, rates.speeds, 1, {m: 2 for m in spec.models})
    # 2 cells x (3 search trials + 1 replica), every one planned once either way
    for plan in plans.values():
        assert sorted((m["cell_key"], m["number"]) for p in plan.packs for m in p.members) == sorted(
            (key, n) for key in {m["cell_key"] for p in plan.packs for m in p.members} for n in range(4))
    joined = [(p, i) for p in plans[True].packs for i in range(2, len(p.members))]
    assert joined and len(plans[True].packs) < len(plans[False].packs)
    for pack, i in joined:  # a joined member starts after the step a member left at, and runs all its steps
        assert pack.time.ends[i] <= pack.time.duration and pack.time.end_steps[i] > min(pack.time.end_steps[:2])
    # a pack's tail (one member left, stepping at 1x) takes a new member (two step at 1.8x)
    assert plans[True].wall_s < plans[False].wall_s


def test_replicas_wait_for_their_cells_search_and_leave_slots_idle():
    plan = _starts("methods: [prompt_tuning]\ntasks: [rte]\ndropout: [off]\nseeds: [0, 1, 2]\n"
                   "optuna: {trials_per_cell: 2}\ntraining: {epochs: 1, data: hub}\n"
                   "resources: {gpus_per_trial: 1, pack_size: 1}\n", gpus=4)
    search = [p for p in plan.packs if p.members[0]["role"] == "search"]
    replicas = [p for p in plan.packs if p.members[0]["role"] == "replica"]
    assert len(search) == 2 and len(replicas) == 2
    assert all(p.start == 0 for p in search)
    assert min(p.start for p in replicas) == pytest.approx(max(p.start + p.time.duration for p in search))
    assert plan.wall_s == pytest.approx(2 * search[0].time.duration)  # two rounds, two of four slots idle


def test_stage_two_starts_after_its_sources_search():
    plan = _starts("methods: [prompt_tuning, attempt]\ntasks: [rte, cb, copa]\ndropout: [off]\n"
                   "sources: {sweep: this, method: prompt_tuning}\nmethod_params: {attempt: {sources: [rte, cb]}}\n"
                   "optuna: {trials_per_cell: 1}\ntraining: {epochs: 1, data: hub}\n"
                   "resources: {gpus_per_trial: 1, pack_size: 1}\n", gpus=8)
    ends = {p.members[0]["trial"]["task"]: p.start + p.time.duration for p in plan.packs
            if p.members[0]["trial"]["method"] == "prompt_tuning"}
    attempt = [p for p in plan.packs if p.members[0]["trial"]["method"] == "attempt"]
    assert len(attempt) == 1 and attempt[0].start == pytest.approx(max(ends["rte"], ends["cb"]))


def test_more_gpus_shorten_the_wall_time_and_keep_the_gpu_hours():
    text = ("methods: [prompt_tuning]\ntasks: [rte, cb, copa, wic]\ndropout: [on, off]\noptuna: {trials_per_cell: 2}\n"
            "training: {epochs: 2, data: hub}\nresources: {gpus_per_trial: 1, pack_size: 1, compile: false}\n")
    one, four = (estimate(parse_spec(text), TABLE, gpus=g) for g in (1, 4))
    assert one["total_hours"] == pytest.approx(four["total_hours"])
    assert one["wall_hours"] == pytest.approx(one["total_hours"])
    assert one["wall_hours"] / 4 * (1 - 1e-9) <= four["wall_hours"] < one["wall_hours"] / 2
    half = estimate(parse_spec(text.replace("gpus_per_trial: 1", "gpus_per_trial: 0.5")), TABLE, gpus=2)
    assert half["slots"] == 4 and half["total_hours"] == pytest.approx(one["total_hours"] / 2)


def test_plan_refuses_a_missing_table_and_a_cluster_of_no_gpus(tmp_path):
    from tests.cli_here import superpos as cli

    spec = tmp_path / "s.yaml"
    spec.write_text("methods: [prompt_tuning]\ntasks: [rte]\n")
    missing = cli("sweep", "plan", spec, "--throughput", tmp_path / "nope.json")
    assert missing.returncode == 2 and "nope.json: no such file" in missing.stderr
    assert "scripts.benchmarks.schedule" in missing.stderr
    for name, text in (("notes.txt", "my notes\n"), ("list.json", "[]"), ("rowless.json", '{"provenance": {}}')):
        (tmp_path / name).write_text(text)
        wrong = cli("sweep", "plan", spec, "--throughput", tmp_path / name)
        assert wrong.returncode == 2 and f"{name} is not a throughput table" in wrong.stderr, wrong.stderr
        assert "Traceback" not in wrong.stderr and "scripts.benchmarks.schedule" in wrong.stderr
    (tmp_path / "short.json").write_text('{"rows": [{"architecture": "tiny-t5", "precision": "fp32", '
                                          '"method": "prompt_tuning", "train_examples_per_s": 90.0}]}')
    short = cli("sweep", "plan", spec, "--throughput", tmp_path / "short.json")
    assert short.returncode == 2 and "row 0 of the throughput table lacks eval_examples_per_s" in short.stderr
    none = cli("sweep", "plan", spec, "--gpus", "0")
    assert none.returncode == 2 and "--gpus 0: must be positive" in none.stderr


def test_plan_refuses_a_cluster_too_small_for_one_trial_naming_the_figure_that_is_short():
    from orchestrator.spec import SpecError

    base = "methods: [prompt_tuning]\ntasks: [rte]\ntraining: {epochs: 1, data: hub}\n"
    gpu = parse_spec(base + "resources: {gpus_per_trial: 2, cpus_per_trial: 4}\n")
    with pytest.raises(SpecError, match=r"--gpus 1.5 holds no trial.*gpus_per_trial 2"):
        estimate(gpu, TABLE, gpus=1.5)
    with pytest.raises(SpecError, match=r"the default cluster of 1 GPU .*--gpus N"):
        estimate(gpu, TABLE)
    with pytest.raises(SpecError, match=r"--cpus 2 holds no trial.*cpus_per_trial 4"):
        estimate(gpu, TABLE, gpus=4, cpus=2)
    assert estimate(gpu, TABLE, gpus=4, cpus=8)["slots"] == 2
    local = parse_spec(base + "resources: {cpus_per_trial: 2}\nray: {num_cpus: 1}\n")
    with pytest.raises(SpecError, match=r"spec.ray.num_cpus: 1 \(--cpus N plans another cluster\) holds no trial"):
        estimate(local, TABLE)
    assert estimate(local, TABLE, cpus=4)["slots"] == 2


def test_compiled_full_finetuning_is_planned_at_its_measured_compiled_rate_and_compiles_per_trial():
    text = ("methods: [full_finetune]\ntasks: [rte]\ndropout: [on]\noptuna: {trials_per_cell: 2}\n"
            "training: {epochs: 1, data: hub, max_train_samples: 2464}\nresources: {gpus_per_trial: 1, compile: COMPILE}\n")
    rows = [{"architecture": "tiny-t5", "precision": "fp32", "method": "full_finetune", "train_examples_per_s": 100.0,
             "eval_examples_per_s": 1e12}]
    table = {"provenance": {}, "rows": rows, "packing": {"compile_s_per_shape": 10.0}}
    eager = estimate(parse_spec(text.replace("COMPILE", "false")), table)
    unmeasured = estimate(parse_spec(text.replace("COMPILE", "true")), table)
    assert any("compiled full fine-tuning on tiny-t5 (planned at the eager rate" in n for n in unmeasured["unmeasured"])
    rows[0]["compiled_train_examples_per_s"] = 250.0
    compiled = estimate(parse_spec(text.replace("COMPILE", "true")), table)
    assert compiled["schedule"]["train_hours"] == pytest.approx(eager["schedule"]["train_hours"] / 2.5)
    # each trial trains its own T5: both compile every width bucket up to 256 source tokens (8 x 10 s)
    assert compiled["schedule"]["compile_hours"] == pytest.approx(2 * 8 * 10.0 / 3600)
    assert not any("full fine-tuning" in n for n in compiled["unmeasured"])


def test_a_task_whose_data_is_broken_has_no_size_and_the_others_keep_theirs(tmp_path):
    """The searcher's pack order reads every task's size when a sweep starts: a broken file must leave
    that task's trials to fail alone (tests/test_packed_sweep.py), not stop the sweep."""
    import shutil

    from orchestrator.tune.measured import train_sizes
    from workers.data import DEMO_DATA_DIR

    shutil.copytree(DEMO_DATA_DIR / "sst2", tmp_path / "sst2")
    shutil.copytree(DEMO_DATA_DIR / "rte", tmp_path / "rte")
    (tmp_path / "rte" / "validation.jsonl").write_text("{not json\n")
    spec = parse_spec(f"methods: [prompt_tuning]\ntasks: [sst2, rte]\ntraining: {{data: {tmp_path}}}\n")
    assert train_sizes(spec) == {"sst2": 256}


def test_the_plan_says_how_many_members_evaluate_together():
    # epochs end at 5 (the short one alone), 10 (both: the short one's last) and 20 (the long one alone)
    t = pack_time([member(10), member(5)], Speeds(train={1: 1.0, 2: 1.5}, eval={1: 1.0, 2: 2.0}))
    assert t.eval_groups == {1: 20, 2: 20}
    four = parse_spec("methods: [prompt_tuning, superpos_prompt]\ntasks: [rte]\nmodels: [tiny-t5]\ndropout: [off]\n"
                      "method_grid: {superpos_prompt: {m: [8]}}\noptuna: {trials_per_cell: 2}\n"
                      "training: {epochs: 2, data: hub}\nresources: {gpus_per_trial: 1, pack_size: 4}\n")
    est = estimate(four, TABLE)
    assert est["schedule"]["eval_together"] == {4: 1.0}  # one task, one batch size: every epoch ends for all four
    from orchestrator.cli.cost import format_plan
    assert "by members evaluated together (those whose epochs end in the same step): 100% 4 together" in (
        format_plan(four, "spec.yaml", est))
    solo = parse_spec("methods: [prompt_tuning]\ntasks: [rte]\nmodels: [tiny-t5]\ndropout: [off]\n"
                      "training: {epochs: 2, data: hub}\nresources: {gpus_per_trial: 1, pack_size: 1}\n")
    assert "evaluated together" not in format_plan(solo, "spec.yaml", estimate(solo, TABLE))
