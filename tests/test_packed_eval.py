"""Pack members evaluated together give the answers of their own evaluations, on every task, under both modes."""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.test_pack import _source_files
from workers.evaluation import outputs
from workers.member import Member
from workers.models import load_model
from workers.pack import run_pack
from workers.packed_eval import outputs_together, passes
from workers.tasks import TASKS
from workers.trial import TrialConfig

MODEL = "tiny-t5"
SOURCES = _source_files(("qqp", "sst2"), 4)


def _members(task: str, mode: str, loaded, tasks: tuple[str, ...] = ()) -> list[Member]:
    """Four methods (different prompt lengths, one input-dependent); `tasks`: one task per member instead."""
    common = dict(model=MODEL, dropout=False, eval_mode=mode, max_eval_samples=12, eval_batch_size=5, epochs=1)
    configs = [
        dict(method="prompt_tuning", lr=0.3),
        dict(method="superpos_prompt", method_params={"m": 8, "n_tokens": 6}, lr=0.01),
        dict(method="residual_prompt", method_params={"bottleneck": 16}, eval_batch_size=4, max_source_tokens=24),
        dict(method="attempt", method_params={"sources": ["qqp", "sst2"], "n_tokens": 4}, source_prompts=SOURCES),
    ]
    members = []
    for k, extra in enumerate(configs):
        cfg = TrialConfig.from_dict({**common, "task": tasks[k] if tasks else task, "seed": k, **extra})
        member = Member.build(cfg, loaded=loaded, cache=True)
        with torch.no_grad():  # prompts away from their initial values, each its own way
            for p in member.trainable.values():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(k)) * 0.3)
        members.append(member)
    return members


def _alone_and_together(members: list[Member], loaded) -> tuple[list, list]:
    jobs = [m.eval_jobs()["val"] for m in members]
    alone = [outputs(m.model, m.tokenizer, m.task, m.splits["val"], m.cfg.eval_batch_size, m.device, m.cfg.eval_mode)
             for m in members]
    return alone, outputs_together(loaded.model, loaded.tokenizer, jobs, torch.device("cpu"))


@pytest.fixture(scope="module")
def loaded():
    return load_model(MODEL)


@pytest.mark.parametrize("mode", ["generate", "rank"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_members_evaluated_together_answer_as_each_alone(task, mode, loaded):
    alone, together = _alone_and_together(_members(task, mode, loaded), loaded)
    assert together == alone


def test_members_on_different_tasks_and_modes_answer_as_each_alone(loaded):
    members = _members("", "generate", loaded, tasks=("multirc", "stsb", "cb", "copa"))
    members[2].cfg.eval_mode = "rank"  # one member ranks while the others generate
    members[2] = Member.build(members[2].cfg, loaded=loaded)
    alone, together = _alone_and_together(members, loaded)
    assert together == alone


def _pack_metrics(**kwargs) -> list:
    common = dict(model=MODEL, dropout=False, epochs=2, task="rte", max_train_samples=16, max_eval_samples=24,
                  batch_size=8, eval_batch_size=8)
    cfgs = [TrialConfig.from_dict({**common, "method": "prompt_tuning", "lr": 0.3, "seed": 1}),
            TrialConfig.from_dict({**common, "method": "superpos_prompt", "lr": 0.05, "seed": 2,
                                   "method_params": {"m": 8}})]
    reports: list = []
    run_pack(cfgs, lambda i, metrics: reports.append((i, metrics)), **kwargs)
    return [(i, {k: v for k, v in m.items() if k.startswith("val/") or k == "compile_error"})
            for i, m in reports if "val/score" in m]


@pytest.fixture(scope="module")
def unpacked_metrics():
    return _pack_metrics(packed_eval=False)


@pytest.mark.parametrize("compile", [False, "eager"])  # eager: dynamo traces the encoder, bucketed passes
def test_a_pack_reports_the_same_metrics_with_and_without_packed_evaluation(compile, unpacked_metrics):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="compiling the model failed")  # the compiled path ran
        together = _pack_metrics(packed_eval=True, compile=compile)
    assert len(together) == 4 and together == unpacked_metrics


def _broken_backend(gm, example_inputs):
    raise RuntimeError("this backend cannot compile")


def test_a_compiled_evaluation_that_fails_falls_back_to_eager(unpacked_metrics):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        together = _pack_metrics(packed_eval=True, compile=_broken_backend)
    assert sum("this backend cannot compile" in str(w.message) for w in caught) == 2  # the step, then evaluation
    assert all("this backend cannot compile" in m.pop("compile_error") for _, m in together)
    assert together == unpacked_metrics


def test_passes_hold_every_example_once_within_the_token_budget():
    widths = [[12, 40, 7, 33, 33], [5, 64, 20], [18] * 9]
    for buckets in (False, True):
        found = passes(widths, budget=130, buckets=buckets)
        seen = sorted((j, i) for one in found for j, idx in one.parts for i in idx)
        assert seen == sorted((j, i) for j, ws in enumerate(widths) for i in range(len(ws)))
        for one in found:
            held = [widths[j][i] for j, idx in one.parts for i in idx]
            assert max(held) <= one.width and one.rows * one.width <= 130 or one.rows == 1
            assert len(held) <= one.rows
        firsts = [one.width for one in found]
        assert firsts == sorted(firsts, reverse=True)  # widest first: the longest inputs share passes
    bucketed = passes(widths, budget=130, buckets=True)
    assert {one.width for one in bucketed} <= {32, 64}  # ENCODER_STEP multiples, never past the widest (64)
    assert all(one.rows == 130 // one.width for one in bucketed[:-1])  # full passes: one shape per width
    held = sum(len(idx) for _, idx in bucketed[-1].parts)  # the short last one: a power of two, not a full pass
    assert bucketed[-1].rows == min(130 // bucketed[-1].width, 1 << (held - 1).bit_length())
    # fewer passes than batch by batch: short inputs go many to a pass
    assert len(passes(widths, budget=130)) < max(len(ws) for ws in widths)



@pytest.mark.parametrize("mode", ["generate", "rank"])
@pytest.mark.parametrize("method", ["full_finetune", "prompt_tuning"])
def test_a_trial_alone_evaluates_sorted_by_width_with_the_metrics_of_batches_in_data_order(method, mode, tmp_path):
    """Member.evaluate (every trial's own evaluation: its examples sorted by width into token-budgeted
    passes) scores as workers.evaluation.evaluate's batches in data order, on inputs of 1 to 256
    tokens, full fine-tuning (no prompt) included."""
    from scripts.benchmarks.input_widths import write_folder
    from workers.evaluation import evaluate

    write_folder(tmp_path, examples=16)
    for task in ("sst2", "boolq"):
        cfg = TrialConfig(method=method, task=task, model=MODEL, data=str(tmp_path), dropout=False, eval_mode=mode,
                          eval_batch_size=8, max_train_samples=8)
        member = Member.build(cfg)
        with torch.no_grad():
            for p in list(member.trainable.values())[:4]:
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.3)
        widths = [len(ids) for ids in member.splits["val"].input_ids]
        assert max(widths) > (4 * min(widths) if task == "sst2" else 1.5 * min(widths))  # lengths sorting reorders
        expected = evaluate(member.model, member.tokenizer, member.task, member.splits["val"], 8, member.device, mode)
        assert member.evaluate() == {"val": expected}
        assert member.model.training  # left as it was
