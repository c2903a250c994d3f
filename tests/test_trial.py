"""One trial without Ray: protocols, evaluation modes, saved parameters, every task of the table."""

from __future__ import annotations

import pytest
import torch

from workers.data import load_examples
from workers.protocols import protocol_splits
from workers.tasks import TASKS, get_task
from workers.trial import TrialConfig, run_trial

SMALL = dict(epochs=1, max_train_samples=24, max_eval_samples=24, method_params={"m": 8})


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_trains_and_scores_under_both_modes(task):
    for mode in ("generate", "rank"):
        result = run_trial(TrialConfig(method="superpos_prompt", task=task, eval_mode=mode, **SMALL))
        final = result["final"]
        assert 0 <= final["val/score"] <= 1
        for metric in get_task(task).metrics:
            assert f"val/{metric}" in final
        if mode == "rank" and not get_task(task).is_regression:
            assert final["val/invalid_rate"] == 0.0  # ranking always names a label


def test_holdout_protocols_report_a_test_split_disjoint_from_selection():
    task = get_task("rte")
    val = protocol_splits(task, "holdout_validation", "demo", seed=0)
    assert {"train", "val", "test"} == set(val)
    assert len(val["val"]) == len(val["test"]) == 32
    assert len(val["val"]) + len(val["test"]) == len(load_examples(task, "validation"))
    tr = protocol_splits(task, "holdout_train", "demo", seed=0, holdout_size=20)
    assert len(tr["val"]) == 20 and len(tr["train"]) == len(load_examples(task, "train")) - 20
    result = run_trial(TrialConfig(method="prompt_tuning", task="rte", eval_protocol="holdout_validation",
                                   epochs=1, max_train_samples=16))
    assert "test/score" in result["final"] and "val/score" in result["final"]


def test_multirc_holdout_keeps_questions_whole():
    splits = protocol_splits(get_task("multirc"), "holdout_validation", "demo", seed=0)
    assert not {e.group for e in splits["val"]} & {e.group for e in splits["test"]}


def test_trial_saves_only_trainable_parameters(tmp_path):
    cfg = TrialConfig(method="superpos_prompt", task="sst2", output_dir=str(tmp_path), **{**SMALL, "epochs": 2})
    reports = []
    run_trial(cfg, report=reports.append)
    final = torch.load(tmp_path / "trainable_final.pt")
    peak = torch.load(tmp_path / "trainable_peak.pt")
    assert set(final) == set(peak) == {"method.E", "method.pprime"}
    assert final["method.pprime"].shape == (10, 8)
    assert (tmp_path / "trainable_final.pt").stat().st_size < 200_000
    assert [r["epoch"] for r in reports] == [1, 2]
    assert "snapshot" in reports[-1] and "snapshot" not in reports[0]
    assert reports[-1]["snapshot"]["pprime"]["values"] == pytest.approx(final["method.pprime"].flatten().tolist())


def test_trial_config_names_bad_values():
    with pytest.raises(ValueError, match="eval_protocol must be one of paper"):
        TrialConfig.from_dict({"method": "prompt_tuning", "task": "rte", "eval_protocol": "cheating"})
    with pytest.raises(ValueError, match="unknown trial option.*epoch\\b"):
        TrialConfig.from_dict({"method": "prompt_tuning", "task": "rte", "epoch": 3})
    with pytest.raises(ValueError, match="unknown task 'rtx'"):
        TrialConfig.from_dict({"method": "prompt_tuning", "task": "rtx"})
    with pytest.raises(ValueError, match="device must be auto .*cuda:N, mps, got 'tpu'"):
        TrialConfig.from_dict({"method": "prompt_tuning", "task": "rte", "device": "tpu"})
    for text in ("hello", ["task: rte"]):  # a YAML file holding a word or a list
        with pytest.raises(ValueError, match=f"a trial config is a mapping of options .*not a {type(text).__name__}"):
            TrialConfig.from_dict(text)


def test_rank_scores_are_the_label_log_likelihoods():
    from workers.assembly import assemble
    from workers.methods import get_method_config

    built = assemble("tiny-t5", get_method_config("prompt_tuning"), dropout=False)
    model, tok = built.model.eval(), built.loaded.tokenizer
    enc = tok(["sentence: a lovely story", "sentence: a dull cat"], padding=True, return_tensors="pt")
    words = ["negative", "positive", "not_entailment"]
    label_ids = [tok(w)["input_ids"] for w in words]
    scores = model.label_log_likelihoods(enc.input_ids, enc.attention_mask, label_ids)
    for j, ids in enumerate(label_ids):
        labels = torch.tensor([ids, ids])
        with torch.no_grad():
            for i in range(2):
                loss = model(enc.input_ids[i : i + 1], enc.attention_mask[i : i + 1], labels[i : i + 1])
                assert scores[i, j].item() == pytest.approx(-loss.item() * len(ids), rel=1e-4)


def test_rank_projects_each_examples_cross_attention_once():
    from workers.assembly import assemble
    from workers.methods import get_method_config

    built = assemble("tiny-t5", get_method_config("prompt_tuning"), dropout=False)
    model, tok, t5 = built.model.eval(), built.loaded.tokenizer, built.loaded.model
    enc = tok(["sentence: a lovely story", "sentence: a dull cat"], padding=True, return_tensors="pt")
    label_ids = [tok(w)["input_ids"] for w in ["negative", "positive", "not_entailment"]]
    key = t5.decoder.block[0].layer[1].EncDecAttention.k
    rows: list[int] = []
    handle = key.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    model.label_log_likelihoods(enc.input_ids, enc.attention_mask, label_ids)
    handle.remove()
    assert rows == [2]  # two examples, three labels: projected for each example once, not six times
    assert t5.decoder.block[0].layer[1].EncDecAttention.k is key  # the model is left as it was


def test_bf16_casts_the_model_and_keeps_prompt_parameters_in_float32():
    from workers.assembly import DTYPES, assemble
    from workers.methods import get_method_config
    from workers.trial import PRECISIONS

    assert set(DTYPES) == set(PRECISIONS)
    built = assemble("tiny-t5", get_method_config("superpos_prompt", {"m": 8}), dropout=False, precision="bf16")
    assert {p.dtype for p in built.loaded.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in built.model.method.parameters()} == {torch.float32}
    result = run_trial(TrialConfig(method="superpos_prompt", task="rte", precision="bf16", **SMALL))
    assert 0 <= result["final"]["val/score"] <= 1 and result["final"]["train/loss"] > 0


def test_every_protocol_name_has_a_splitter():
    from workers.protocols import SPLITTERS
    from workers.trial import PROTOCOLS

    assert set(SPLITTERS) == set(PROTOCOLS)


def _ft(compile, epochs: int = 2) -> tuple[list[dict], dict]:
    cfg = TrialConfig(method="full_finetune", task="rte", model="tiny-t5", dropout=False, epochs=epochs, batch_size=8,
                      max_train_samples=20, max_eval_samples=8, seed=3, lr=1e-3)  # a short last batch
    reports: list[dict] = []
    states: list[dict] = []
    run_trial(cfg, report=reports.append, save_state=states.append, compile=compile)
    return reports, states[-1]["trainable"]


def test_compiled_full_finetuning_trains_as_eager_on_bucketed_shapes():
    """Full fine-tuning's T5 compiled (dynamo traces it; the `eager` backend needs no C++ toolchain) on
    batches padded to bucketed widths: the same losses, scores and weights as the eager trial."""
    import warnings

    from workers.batching import bucketed

    eager, eager_weights = _ft(False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="compiling the model failed")  # no fallback: the compiled path ran
        compiled, compiled_weights = _ft("eager")
    for a, b in zip(eager, compiled):
        assert a["train/loss"] == pytest.approx(b["train/loss"], abs=1e-5)
        assert a["val/score"] == b["val/score"]
    assert max((eager_weights[k] - compiled_weights[k]).abs().max().item() for k in eager_weights) < 1e-5
    batch = {"input_ids": torch.ones(2, 40, dtype=torch.long), "attention_mask": torch.ones(2, 40, dtype=torch.long),
             "labels": torch.ones(2, 3, dtype=torch.long)}
    padded = bucketed(batch, 0, widest=256)
    assert padded["input_ids"].shape == (2, 64) and padded["labels"].shape == (2, 4)
    assert padded["attention_mask"][:, 40:].sum() == 0 and (padded["labels"][:, 3:] == -100).all()
    assert bucketed(batch, 0, widest=50)["input_ids"].shape == (2, 50)  # never past the widest input
    short = bucketed(batch, 0, widest=256, rows=8)  # a short last batch: rows with nothing to learn
    assert short["input_ids"].shape == (8, 64) and (short["labels"][2:] == -100).all()
    assert short["attention_mask"][2:].sum() == 0


def test_a_full_finetuning_compile_that_fails_goes_on_eager_with_a_warning():
    def broken(gm, example_inputs):
        raise RuntimeError("this backend cannot compile")

    eager, _ = _ft(False, epochs=1)
    with pytest.warns(RuntimeWarning, match="this backend cannot compile"):
        fell_back, _ = _ft(broken, epochs=1)
    assert fell_back[0]["train/loss"] == pytest.approx(eager[0]["train/loss"], abs=1e-6)


def test_a_device_this_process_cannot_use_is_named():
    """`device: cuda` on a machine without it failed deep in torch ('Torch not compiled with CUDA
    enabled'); no machine has a 100th GPU."""
    from workers.member import resolve_device

    with pytest.raises(ValueError, match=r"device 'cuda:99': this process sees \d+ cuda device\(s\).*use device: auto"):
        resolve_device("cuda:99")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
