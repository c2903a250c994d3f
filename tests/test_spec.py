"""Sweep spec validation: good specs expand to the right grid, bad ones name the key and the fix."""

from __future__ import annotations

import pytest

from orchestrator.plan import expand, trial_config
from orchestrator.spec import SpecError, load_spec, parse_spec
from tests.conftest import REPO

BASE = "methods: [prompt_tuning, superpos_prompt]\ntasks: [rte]\n"


def test_demo_spec_is_valid_and_expands_to_its_grid():
    spec = load_spec(REPO / "orchestrator" / "specs" / "demo.yaml")
    cells = expand(spec)
    assert len(cells) == 2 * 2 * 2  # methods x tasks x dropout (one m)
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
        ("methods: [prompt_tunning]\ntasks: [rte]\n", r"spec.methods\[0\]: unknown method 'prompt_tunning'.*superpos_prompt"),
        (BASE.replace("rte", "rtee"), r"spec.tasks\[0\]: unknown task 'rtee'.*sst2"),
        (BASE + "m: [0]\n", r"spec.m\[0\] must be an integer >= 1"),
        (BASE + "dropout: [maybe]\n", r"spec.dropout\[0\] must be on or off"),
        (BASE + "epochs: 3\n", r"unknown key\(s\) epochs"),
        (BASE + "optuna: {lr: {prompt_tuning: [0.1, 0.01]}}\n", r"spec.optuna.lr.prompt_tuning must be \[low, high\]"),
        (BASE + "optuna: {trials_per_cell: 0}\n", r"trials_per_cell must be a positive integer"),
        (BASE + "method_params: {superpos_prompt: {mm: 3}}\n", r"method_params.superpos_prompt: .*unknown option.*mm"),
        (BASE + "method_params: {superpos_prompt: {m: 3}}\n", r"set m in the grid"),
        (BASE + "training: {epoch: 3}\n", r"spec.training: unknown key\(s\) epoch"),
        (BASE + "training: {epochs: 0}\n", r"epochs must be a positive integer"),
        (BASE + "training: {data: /no/such/dir}\n", r"not 'demo', 'hub' or an existing directory"),
        (BASE + "resources: {gpus_per_trial: -1}\n", r"gpus_per_trial must be >= 0"),
        ("methods: [prompt_tuning]\n", r"spec.tasks is required"),
        ("- just\n- a list\n", r"must be a YAML mapping"),
        ("methods: [a\n", r"not valid YAML"),
        (BASE + "scheduler: {type: hyperband}\n", r"spec.scheduler.type must be one of fifo, asha"),
        (BASE + "scheduler: {type: asha, reduction_factor: 1}\n", r"reduction_factor must be an integer >= 2"),
        (BASE + "resources: {cpus_per_trial: two}\n", r"spec.resources.cpus_per_trial must be float, got 'two'"),
        (BASE + "ray: {num_cpus: 1.5}\n", r"spec.ray.num_cpus must be int or null, got 1.5"),
        (BASE + "ray: {address: 8265}\n", r"spec.ray.address must be str or null"),
        (BASE + "optuna: {sampler_seed: x}\n", r"sampler_seed must be an integer"),
        (BASE + "m: [600]\n", r"600 superposed tokens exceed the 547 sampleable tokens of 'tiny-t5'"),
        (BASE + "models: ['random:google/t5-tiny']\n", r"no architecture preset 'google/t5-tiny'.*t5-base-lm-adapt"),
        (BASE + "models: [/no/such/model]\n", r"is not a directory with model weights"),
        (BASE + "training: {data: relative/dir}\n", r"not 'demo', 'hub' or an existing directory"),
    ],
)
def test_bad_specs_name_the_problem(text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


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
