"""Sweep spec validation: good specs expand to the right grid, bad ones name the key and the fix."""

from __future__ import annotations

import pytest

from orchestrator.spec import SpecError, load_spec, parse_spec
from orchestrator.spec.plan import expand, trial_config
from tests.conftest import REPO

BASE = "methods: [prompt_tuning, superpos_prompt]\ntasks: [rte]\n"


def test_demo_spec_is_valid_and_expands_to_its_grid():
    spec = load_spec(REPO / "orchestrator" / "specs" / "demo.yaml")
    cells = expand(spec)
    assert len(cells) == (1 + 2) * 3 * 2  # (prompt tuning + superpos at two m) x tasks x dropout
    assert {c.dropout for c in cells} == {True, False}
    assert spec.optuna.trials_per_cell >= 3
    assert len({c.key for c in cells}) == len(cells)


def test_m_is_a_dimension_only_for_methods_that_have_it():
    spec = parse_spec(BASE + "m: [4, 8, 16]\ndropout: [off]\n")
    cells = expand(spec)
    assert sorted(c.m for c in cells if c.method == "superpos_prompt") == [4, 8, 16]
    assert [c.m for c in cells if c.method == "prompt_tuning"] == [None]


def test_trial_config_carries_cell_and_training_values():
    spec = parse_spec(BASE + "m: [8]\ntraining: {epochs: 3}\nmethod_params: {superpos_prompt: {softmax: true}}\n")
    cell = next(c for c in expand(spec) if c.method == "superpos_prompt")
    cfg = trial_config(spec, cell, 0.02)
    assert cfg["method_params"] == {"softmax": True, "m": 8}
    assert (cfg["epochs"], cfg["lr"], cfg["task"]) == (3, 0.02, "rte")


def test_default_lr_range_is_the_papers_rate_times_ten_each_way():
    spec = parse_spec(BASE)
    assert spec.optuna.lr_range("prompt_tuning") == pytest.approx((0.001, 0.1))


@pytest.mark.parametrize(
    "text, message",
    [
        ("methods: [prompt_tunning]\ntasks: [rte]\n", r"spec.methods\[0\]: .*'prompt_tuning', 'superpos_prompt'.*got 'prompt_tunning'"),
        (BASE.replace("rte", "rtee"), r"spec.tasks\[0\]: .*'sst2'.*got 'rtee'"),
        (BASE + "m: [0]\n", r"spec.m: every m must be >= 1"),
        (BASE + "dropout: [maybe]\n", r"spec.dropout\[0\]: .*boolean \(got 'maybe'\)"),
        (BASE + "epochs: 3\n", r"spec.epochs: a training option: write it under spec.training"),
        (BASE + "seed: 3\n", r"spec.seed: unknown key; did you mean 'seeds'\?; see `superpos sweep schema`"),
        (BASE + "optuna: {lr: {prompt_tuning: [0.1, 0.01]}}\n", r"spec.optuna.lr: prompt_tuning: give \[low, high\]"),
        (BASE + "optuna: {trials_per_cell: 0}\n", r"spec.optuna.trials_per_cell: .*greater than or equal to 1"),
        (BASE + "method_params: {superpos_prompt: {mm: 3}}\n", r"spec.method_params.superpos_prompt: .*unknown option.*mm"),
        (BASE + "method_params: {superpos_prompt: {m: 3}}\n", r"method_params.superpos_prompt.m: also a grid dimension"),
        (BASE + "training: {epoch: 3}\n", r"spec.training.epoch: unknown key; did you mean 'epochs'\?"),
        (BASE + "training: {lr: 0.1}\n", r"spec.training.lr: set per trial by the grid: use spec.optuna"),
        (BASE + "training: {epochs: 0}\n", r"spec.training.epochs: Input should be greater than or equal to 1"),
        (BASE + "training: {data: /no/such/dir}\n", r"not 'demo', 'hub' or an existing directory"),
        (BASE + "resources: {gpus_per_trial: -1}\n", r"spec.resources.gpus_per_trial: .*greater than or equal to 0"),
        ("methods: [prompt_tuning]\n", r"spec.tasks: Field required"),
        ("- just\n- a list\n", r"must be a YAML mapping"),
        ("methods: [a\n", r"not valid YAML"),
        (BASE + "scheduler: {type: hyperband}\n", r"spec.scheduler.type: .*'fifo' or 'asha'"),
        (BASE + "scheduler: {type: asha, reduction_factor: 1}\n", r"spec.scheduler.reduction_factor: .*2"),
        (BASE + "resources: {cpus_per_trial: two}\n", r"spec.resources.cpus_per_trial: .*number \(got 'two'\)"),
        (BASE + "ray: {num_cpus: 1.5}\n", r"spec.ray.num_cpus: .*integer \(got 1.5\)"),
        (BASE + "ray: {address: 8265}\n", r"spec.ray.address: .*string"),
        (BASE + "optuna: {sampler_seed: x}\n", r"spec.optuna.sampler_seed: .*integer"),
        (BASE + "m: [600]\n", r"600 superposed tokens exceed the 547 sampleable tokens of 'tiny-t5'"),
        (BASE + "models: ['random:google/t5-tiny']\n", r"no architecture preset 'google/t5-tiny'.*t5-base-lm-adapt"),
        (BASE + "models: [/no/such/model]\n", r"is not a directory with model weights"),
        (BASE + "training: {data: relative/dir}\n", r"not 'demo', 'hub' or an existing directory"),
        # fail-fast cases that used to pass validation and then hang or fail every trial
        (BASE.replace("[rte]", "[rte, rte]"), r"spec.tasks: listed more than once: rte"),
        (BASE + "training: {epochs: 2}\nscheduler: {type: asha, grace_period: 3}\n",
         r"spec.scheduler.grace_period: 3 is more than the 2 epochs"),
        (BASE + "optuna: {lr: {residual_prompt: [0.1, 0.2]}}\n", r"spec.optuna.lr.residual_prompt: .*not in spec.methods"),
        (BASE + "method_grid: {superpos_prompt: {sofmax: [true]}}\n",
         r"spec.method_grid.superpos_prompt.sofmax: not an option of superpos_prompt; options: .*softmax"),
        (BASE + "method_grid: {superpos_prompt: {softmax: [true, 3]}}\n", r"softmax must be true or false, got 3"),
        (BASE + "optuna: {sampler: cmaes}\n", r"spec.optuna.sampler: .*'tpe', 'random', 'gp' or 'fixed'"),
        (BASE + "resources: {retries: -1}\n", r"spec.resources.retries"),
    ],
)
def test_bad_specs_name_the_problem(text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


def test_every_problem_of_a_spec_is_reported_at_once():
    text = ("methods: [prompt_tunning, prompt_tuning]\ntasks: [rte, rte]\nm: [0]\n"
            "optuna: {trials_per_cell: 0}\nresources: {cpus_per_trial: two}\nepochs: 3\n")
    with pytest.raises(SpecError) as info:
        parse_spec(text, "my.yaml")
    problems = info.value.problems
    assert len(problems) == 6, problems
    assert str(info.value).startswith("my.yaml: 6 problems")
    for key in ("spec.methods[0]", "spec.tasks", "spec.m", "spec.optuna.trials_per_cell",
                "spec.resources.cpus_per_trial", "spec.epochs"):
        assert any(p.startswith(key) for p in problems), key
    # the cross-key checks too, together
    text = BASE + ("method_grid: {superpos_prompt: {sofmax: [true]}}\ntraining: {epochs: 1}\n"
                   "scheduler: {type: asha, grace_period: 2}\noptuna: {rates: {full_finetune: [0.1]}}\n")
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert len(info.value.problems) == 3, info.value.problems


def test_a_huge_grid_is_refused_before_it_is_expanded():
    ms = list(range(1, 1001))
    text = ("methods: [superpos_prompt]\ntasks: [rte, sst2, cola, mnli, qqp, qnli, stsb, mrpc, boolq, cb, copa, wic, "
            f"multirc]\nm: {ms}\nmethod_grid: {{superpos_prompt: {{n_tokens: {list(range(1, 101))}}}}}\n")
    with pytest.raises(SpecError, match=r"spec: the grid has 1,300,000 cells .*spec.limits.max_cells = 10,000"):
        parse_spec(text)
    assert parse_spec(BASE + "m: [8, 16]\nlimits: {max_cells: 3}\n").n_cells() == 3


def test_any_method_option_spans_the_grid():
    spec = parse_spec(BASE + "m: [8, 16]\ndropout: [off]\nmethod_grid: {superpos_prompt: {softmax: [false, true]}, "
                             "prompt_tuning: {init: [sampled_vocab, class_labels]}}\n")
    cells = expand(spec)
    assert len(cells) == spec.n_cells() == 2 + 4
    sp = {dict(c.options)["softmax"]: c for c in cells if c.method == "superpos_prompt" and c.m == 8}
    assert set(sp) == {False, True} and sp[True].key != sp[False].key
    assert trial_config(spec, sp[True], 0.01)["method_params"] == {"m": 8, "softmax": True}
    inits = sorted(dict(c.options)["init"] for c in cells if c.method == "prompt_tuning")
    assert inits == ["class_labels", "sampled_vocab"]
    assert len({c.key for c in cells}) == len(cells)


def test_a_method_can_run_fewer_dropout_settings_than_the_grid():
    spec = parse_spec("methods: [prompt_tuning, full_finetune]\ntasks: [rte, cb]\ndropout: [on, off]\nseeds: [0, 1]\n"
                      "method_dropout: {full_finetune: [on]}\noptuna: {trials_per_cell: 2}\n")
    cells = expand(spec)
    assert sorted((c.method, c.dropout) for c in cells if c.task == "rte") == [
        ("full_finetune", True), ("prompt_tuning", False), ("prompt_tuning", True)]
    assert spec.n_cells() == len(cells) == 6
    assert spec.n_trials() == sum(spec.trials_per_cell(c.method) for c in cells) == 6 * 3  # what the run's plan counts
    assert spec.grid_note() == "; full_finetune runs dropout on only"
    assert parse_spec(BASE + "dropout: [off, on]\nmethod_dropout: {prompt_tuning: [on, off]}\n").dropout_for(
        "prompt_tuning") == (False, True)  # in spec.dropout's order


@pytest.mark.parametrize("extra, message", [
    ("method_dropout: {full_finetune: [on]}\n", r"spec.method_dropout.full_finetune: full_finetune is not in spec.methods"),
    ("method_dropout: {prompt_tuning: [off]}\n", r"spec.method_dropout.prompt_tuning: off is not in spec.dropout \(on\); add it"),
    ("method_dropout: {prompt_tuning: []}\n", r"spec.method_dropout: .*prompt_tuning: give at least one dropout setting"),
    ("method_dropout: {prompt_tuning: [on, on]}\n", r"spec.method_dropout: .*listed more than once"),
    ("method_dropout: {prompt_tuning: [maybe]}\n", r"spec.method_dropout.prompt_tuning\[0\]"),
])
def test_a_bad_method_dropout_names_the_method_and_the_fix(extra, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(BASE + extra)


def test_samplers_budgets_and_startup():
    spec = parse_spec(BASE + "optuna: {sampler: fixed, rates: {prompt_tuning: [0.3, 0.1]}}\n")
    assert spec.optuna.budget("prompt_tuning") == 2 and spec.optuna.fixed_rates("prompt_tuning") == [0.3, 0.1]
    assert spec.optuna.fixed_rates("superpos_prompt") == [0.01]  # the paper's rate
    tpe = parse_spec(BASE + "optuna: {trials_per_cell: 3}\n").optuna
    assert tpe.n_startup(3) == 2 and tpe.n_startup(30) == 10 and tpe.n_startup(12) == 4


def test_seeds_are_not_a_grid_dimension():
    spec = parse_spec(BASE + "m: [8]\nseeds: [3, 4, 5]\n")
    cells = expand(spec)
    assert len(cells) == 2 and {c.seed for c in cells} == {3}  # the first seed searches
    assert trial_config(spec, cells[0], 0.1, seed=5)["seed"] == 5


def test_a_binary_spec_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"methods: \x85\xff\x00")
    with pytest.raises(SpecError, match=r"spec.yaml is not a text \(UTF-8\) file"):
        load_spec(path)


def test_json_schema_lists_the_sections_and_enums():
    from orchestrator.spec.schema import json_schema

    schema = json_schema()
    assert {"methods", "tasks", "optuna", "method_grid", "resources"} <= set(schema["properties"])
    assert "superpos_prompt" in str(schema["properties"]["methods"])


def test_missing_spec_file_points_at_the_example(tmp_path):
    with pytest.raises(SpecError, match="demo.yaml"):
        load_spec(tmp_path / "nope.yaml")


def test_local_data_folder_must_hold_every_split(tmp_path):
    (tmp_path / "rte").mkdir()
    (tmp_path / "rte" / "train.jsonl").write_text("{}\n")
    with pytest.raises(SpecError, match=r"no data for task 'rte' split 'validation'.*rte/validation.jsonl"):
        parse_spec(BASE + f"training: {{data: {tmp_path}}}\n")
    (tmp_path / "rte" / "validation.parquet").write_text("")
    assert parse_spec(BASE + f"training: {{data: {tmp_path}}}\n").training["data"] == str(tmp_path)


def test_the_template_set_is_a_training_option_recorded_with_every_cell():
    cells = expand(parse_spec(BASE + "training: {template: keyvalue}\n"))
    assert {c.template for c in cells} == {"keyvalue"} and cells[0].as_row()["template"] == "keyvalue"
    assert {c.template for c in expand(parse_spec(BASE))} == {"reference"}
    with pytest.raises(SpecError, match="spec.training.template: Input should be 'reference', 'reference_hub_fields' or "
                                        "'keyvalue' \\(got 'paper'\\)"):
        parse_spec(BASE + "training: {template: paper}\n")


LAUGHS = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))


@pytest.mark.parametrize("text, message", [
    (BASE.replace("prompt_tuning, ", "") + "method_grid: {superpos_prompt: {softmax: []}}\n",
     r"^spec.method_grid.superpos_prompt.softmax: give at least one value$"),
    (BASE + "m: [8]\nmethod_grid: {superpos_prompt: {m: [16, 32]}}\n",
     r"spec.m and spec.method_grid.superpos_prompt.m both give"),
    ("methods: [full_finetune]\ntasks: [rte]\nresources: {pack_size: 4}\n",
     r"spec.resources.pack_size: 4, but nothing can be packed: full_finetune"),
    (BASE + "resources: {pack_size: 2.5}\n", r"^spec.resources.pack_size: must be a valid integer or 'auto' \(got 2.5\)$"),
    (BASE + "resources: {compile: 'yes'}\n", r"^spec.resources.compile: must be a valid boolean or 'auto' \(got 'yes'\)$"),
    (BASE + f"m: [{', '.join(map(str, range(1, 501)))}]\nseeds: [{', '.join(map(str, range(2000)))}]\n",
     r"1,003,002 trials \(501 cells.* more than spec.limits.max_trials = 100,000"),
    (BASE + LAUGHS, r"expands to [\d,]+ values once its YAML aliases"),
    ("methods: [prompt_tuning]\n" + LAUGHS + "tasks: *l9\n", r"expands to [\d,]+ values once its YAML aliases"),
    (BASE + "x: " + "[" * 80 + "]" * 80 + "\n", r"nests deeper than 50 levels"),
    (BASE + "x: " + "[" * 50_000 + "]" * 50_000 + "\n", r"nests too deeply|is 100,\d+ characters"),
    (BASE + "seeds: [" + "9" * 5000 + "]\n", r"holds a value that cannot be read: Exceeds the limit"),
    (BASE + "name: " + "x" * 5000 + "\n", r"^spec.name: String should have at most 200 characters \(got 'xxx"),
    (BASE + "training: {device: tpu}\n", r"^spec.training.device: must be auto \(cuda when .*cuda:N, mps \(got 'tpu'\)$"),
    (BASE + "training: {device: cuda}\n", r"^spec.training.device: 'cuda', but a trial sees 0 GPU\(s\)"),  # all failed
    (BASE + "training: {device: 'cuda:1'}\nresources: {gpus_per_trial: 1}\n", r"'cuda:1', but a trial sees 1 GPU\(s\)"),
    (BASE + "ray: {address: auto, num_cpus: 4}\n", r"^spec.ray: num_cpus sizes a local Ray only, and address 'auto' j"),
    (BASE + "ray: {address: '10.0.0.1:6379', num_gpus: 0}\n", r"^spec.ray: num_gpus sizes a local Ray only"),
    (BASE + "ray: {address: 'http://10.0.0.1:8265'}\n", r"^spec.ray.address: 'http://10.0.0.1:8265' is a Ray dashb.*HOST:6379"),
])
def test_hostile_and_contradictory_specs_end_in_one_clear_line(text, message):
    """Each used to crash (a traceback), hang (minutes, gigabytes) or drop a key silently."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert len(err.value.problems) == 1 and len(str(err.value)) < 700, str(err.value)[:2000]
    assert __import__("re").search(message, str(err.value)), str(err.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 500_000  # KiB: bounded memory


def test_a_long_bad_value_is_cut_in_the_message():
    with pytest.raises(SpecError) as err:
        parse_spec(BASE + f"zzz: [{', '.join(['1'] * 5000)}]\n")
    assert "spec.zzz: unknown key" in str(err.value) and "characters)" in str(err.value)
    assert len(str(err.value)) < 700


def test_every_problem_of_the_training_section_is_reported_at_once():
    with pytest.raises(SpecError) as err:
        parse_spec(BASE + "training: {epochs: 0, eval_mode: greedy, batch_size: many, holdout_size: -1}\n")
    text = str(err.value)
    assert "4 problems" in text
    for key in ("epochs", "eval_mode", "batch_size", "holdout_size"):
        assert f"spec.training.{key}:" in text


def test_the_schema_lists_every_training_key_with_its_help():
    from dataclasses import fields

    from orchestrator.spec.schema import GRID_FIELDS, json_schema
    from workers.trial import TrialConfig

    training = json_schema()["$defs"]["TrainingSpec"]["properties"]
    expected = {f.name: f.metadata["help"] for f in fields(TrialConfig) if f.name not in GRID_FIELDS}
    assert {k: v["description"] for k, v in training.items()} == expected
    assert training["eval_mode"]["enum"] == ["generate", "rank"] and training["epochs"]["minimum"] == 1


def test_a_trial_config_given_as_a_sweep_spec_says_what_it_is():
    trial = (REPO / "orchestrator" / "specs" / "trial-example.yaml").read_text()
    with pytest.raises(SpecError) as err:
        parse_spec(trial, "trial-example.yaml")
    assert "is a trial config" in str(err.value) and "superpos trial run FILE" in str(err.value)
    assert len(err.value.problems) == 1


def test_the_readmes_annotated_spec_is_a_valid_spec():
    """A user who copies the README's spec (every section, commented) gets a sweep, not an error."""
    text = (REPO / "README.md").read_text()
    start = text.index("```yaml", text.index("## Sweep specs")) + len("```yaml")
    spec = parse_spec(text[start:text.index("```", start)], "README.md")
    assert spec.n_cells() == len(cells := expand(spec)) and {c.dropout for c in cells if c.method == "superpos_prompt"} == {False}

