"""Packed trials on one shared frozen T5 equal the same trials run alone (fp32, dropout off)."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import pytest
import torch

from workers import cache
from workers.artefacts import encode
from workers.pack import check_pack, run_pack
from workers.trial import TrialConfig, run_trial


def _source_files(tasks: tuple[str, ...], n: int, d: int = 64) -> dict[str, str]:
    """Source prompts for the ATTEMPT member, as artefact files (what a sweep hands its trials)."""
    folder, gen = Path(tempfile.mkdtemp(prefix="sources-")), torch.Generator().manual_seed(11)
    files = {}
    for task in tasks:
        files[task] = str(folder / f"{task}.safetensors")
        Path(files[task]).write_bytes(encode(torch.randn(n, d, generator=gen) * 0.5))
    return files


COMMON = dict(dropout=False, epochs=2, max_eval_samples=8, eval_batch_size=16)
# different tasks, methods, options, input lengths, batch sizes and train sizes (so epochs end apart)
MEMBERS = [
    dict(method="prompt_tuning", task="rte", lr=0.3, seed=1, max_train_samples=20, batch_size=8, max_source_tokens=96),
    dict(method="superpos_prompt", task="sst2", lr=0.01, seed=2, max_train_samples=12, batch_size=4,
         method_params={"m": 8, "n_tokens": 6}, max_source_tokens=32),
    dict(method="residual_prompt", task="cola", lr=0.003, seed=3, max_train_samples=16, batch_size=8,
         method_params={"bottleneck": 16}),
    # input-dependent prompts; pooling over padding too (the official code's), so a member's own padding counts
    dict(method="attempt", task="boolq", lr=0.3, seed=4, max_train_samples=12, batch_size=4, max_source_tokens=64,
         method_params={"sources": ["qqp", "sst2"], "n_tokens": 4, "pooling": "official"},
         source_prompts=_source_files(("qqp", "sst2"), 4)),
]


def _configs() -> list[TrialConfig]:
    return [TrialConfig.from_dict({**COMMON, **m}) for m in MEMBERS]


def _saved(state: dict) -> dict:
    """Through torch.save and load, as the Tune adapter keeps it (a copy, not live tensors)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _alone(cfg: TrialConfig) -> tuple[list[dict], list[dict]]:
    reports, states = [], []
    run_trial(cfg, report=reports.append, save_state=lambda s: states.append(_saved(s)))
    return reports, states


def _packed(cfgs, **kwargs) -> tuple[dict[int, list], dict[int, list]]:
    reports: dict[int, list] = {i: [] for i in range(len(cfgs))}
    states: dict[int, list] = {i: [] for i in range(len(cfgs))}
    run_pack(cfgs, lambda i, m: reports[i].append(m), lambda i, s: states[i].append(_saved(s)), **kwargs)
    return reports, states


def _epochs(reports: list[dict]) -> list[dict]:
    """A member's epoch reports (not the events: left complete after its outputs, stopped, failed)."""
    return [r for r in reports if not r.get("event_only")]


# ATTEMPT's tensors trained at lr 0.3: a pack's other rows (and, compiled, its bucketed widths) change how
# the T5's sums round, and AdamW's step (~lr * g / |g|) turns the tiny gradient differences of the elements
# whose gradients nearly cancel (its W_down/W_up most) into updates that differ by up to ~5e-4 after 6 steps
# (elements of magnitude ~0.3-2 by then: < 0.1%); its target prompt by up to ~1.2e-5. How far depends on the
# CPU's kernels: measured on an AMD EPYC (AVX512) for unbucketed packs too; on others unbucketed held 1e-5.
# Its losses agree to 1e-5 and its scores exactly, as every member's must.
ATTEMPT_ROUNDING = {"method.down.weight": 1e-3, "method.up.weight": 1e-3, "method.prompt": 3e-5}


def _assert_same(alone, packed, method: str | None = None):
    """Equal reports; trainable tensors equal to 1e-5 (ATTEMPT's to `ATTEMPT_ROUNDING`)."""
    atol = ATTEMPT_ROUNDING if method == "attempt" else {}
    (a_reports, a_states), (p_reports, p_states) = alone, packed
    p_reports = _epochs(p_reports)
    assert [r["epoch"] for r in a_reports] == [r["epoch"] for r in p_reports]
    for a, p in zip(a_reports, p_reports):
        assert p["train/loss"] == pytest.approx(a["train/loss"], abs=1e-5)
        assert p["val/score"] == a["val/score"]
    for a, p in zip(a_states, p_states):
        assert set(a["trainable"]) == set(p["trainable"])
        for name, value in a["trainable"].items():
            torch.testing.assert_close(p["trainable"][name], value, atol=atol.get(name, 1e-5), rtol=0)


@pytest.fixture(scope="module")
def alone():
    cache.clear()
    return [_alone(cfg) for cfg in _configs()]


def test_each_member_equals_its_trial_run_alone(alone):
    reports, states = _packed(_configs())
    for i, expected in enumerate(alone):
        _assert_same(expected, (reports[i], states[i]), method=MEMBERS[i]["method"])
        assert reports[i][-1]["left"] == "complete" and "left" not in reports[i][0]
        assert reports[i][0]["pack/size"] >= 1
    # the sst2 member has 3 steps an epoch, the others 2-3: the first trial's prompt moved
    assert not torch.equal(states[0][0]["trainable"]["method.prompt"], states[0][1]["trainable"]["method.prompt"])


def test_compiled_and_bucketed_steps_give_the_same_trajectories(alone):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="compiling the model failed")  # no fallback: compiled path ran
        reports, states = _packed(_configs(), compile="eager")  # dynamo traces the T5; no C++ toolchain needed
    for i, expected in enumerate(alone):  # ATTEMPT's tensors to ATTEMPT_ROUNDING, the others' to 1e-5
        _assert_same(expected, (reports[i], states[i]), method=MEMBERS[i]["method"])
    padding = reports[0][0]["pack/padding"]
    assert 0 < padding < 1  # widths round up to buckets and the batch to a fixed number of rows


def _broken_backend(gm, example_inputs):
    raise RuntimeError("this backend cannot compile")


def test_a_compile_that_fails_falls_back_with_a_warning(alone):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reports, states = _packed(_configs()[:1], compile=_broken_backend)
    assert any("training goes on without compiling" in str(w.message) for w in caught)
    assert "this backend cannot compile" in reports[0][0]["compile_error"]  # the driver prints it
    _assert_same(alone[0], (reports[0], states[0]))


def test_a_member_that_leaves_does_not_change_the_others(alone):
    reports, states = _packed(_configs(), leave=lambda i: i == 1)
    assert [r.get("left") for r in reports[1]] == [None, "stopped"]
    assert reports[1][-1]["event_only"] and reports[1][-1]["epoch"] == 1
    for i in (0, 2):
        _assert_same(alone[i], (reports[i], states[i]))


def test_a_member_resumes_after_its_saved_epoch(alone):
    cfgs = _configs()
    reports, _ = _packed(cfgs, resume_states={0: alone[0][1][0], 2: alone[2][1][1]})
    assert [r["epoch"] for r in _epochs(reports[0])] == [2]
    assert reports[0][0]["train/loss"] == pytest.approx(alone[0][0][1]["train/loss"], abs=1e-5)
    assert [r["epoch"] for r in _epochs(reports[2])] == [2] and reports[2][-1]["left"] == "complete"  # had finished


def test_a_member_whose_outputs_cannot_be_saved_fails_alone_after_its_last_epoch(alone, tmp_path):
    (tmp_path / "a-file").write_text("")
    cfgs = _configs()
    cfgs[1] = TrialConfig.from_dict({**COMMON, **MEMBERS[1], "output_dir": str(tmp_path / "a-file" / "out")})
    reports, states = _packed(cfgs)
    assert [r["epoch"] for r in _epochs(reports[1])] == [1, 2]  # it ran its epochs; only then did it raise
    assert reports[1][-1]["left"] == "failed" and "NotADirectoryError" in reports[1][-1]["error"]
    assert all(r.get("left") != "complete" for r in reports[1])
    for i in (0, 2):
        _assert_same(alone[i], (reports[i], states[i]))
        assert reports[i][-1]["left"] == "complete"


def test_a_pack_refuses_members_that_cannot_share_the_model():
    cfgs = _configs()
    with pytest.raises(ValueError, match="differ in dropout"):
        check_pack([cfgs[0], TrialConfig.from_dict({**COMMON, **MEMBERS[1], "dropout": True})])
    with pytest.raises(ValueError, match="full_finetune trains the model itself"):
        check_pack([cfgs[0], TrialConfig(method="full_finetune", task="rte", dropout=False)])


def test_a_member_that_cannot_be_set_up_fails_alone(alone, tmp_path):
    import shutil

    from workers.data import DEMO_DATA_DIR

    shutil.copytree(DEMO_DATA_DIR / "sst2", tmp_path / "sst2")
    (tmp_path / "sst2" / "validation.jsonl").write_text('{"sentence": "a", \n')  # broken JSON
    cfgs = _configs()
    cfgs[1] = TrialConfig.from_dict({**COMMON, **MEMBERS[1], "data": str(tmp_path)})
    reports, states = _packed(cfgs)
    assert [r["left"] for r in reports[1]] == ["failed"] and "Traceback" in reports[1][0]["error"]
    for i in (0, 2):
        _assert_same(alone[i], (reports[i], states[i]))


def test_the_stacked_rows_shrink_as_members_leave_through_few_shapes():
    from workers.shapes import row_bucket

    full = 8 * 16
    shapes = {row_bucket([16] * stepping, full) for stepping in range(8, 0, -1)}
    assert shapes == {128, 64, 32, 16}  # log2(8) + 1 shapes, each compiled once per width bucket
    assert row_bucket([16] * 5, full) == 128 and row_bucket([16] * 3, full) == 64  # never fewer rows than used
    assert row_bucket([8, 4], 20) == 16 and row_bucket([8, 4, 8], 20) == 20  # capped at the full pack


def test_members_that_join_a_running_pack_train_as_they_would_alone(alone):
    """Continuous packing: when a member leaves, `admit` gives the trials that take its place; they
    are numbered on and train in the running pack as they would alone (and the others as before)."""
    cfgs = _configs()
    offers = [[(cfgs[3], None)], [(cfgs[1], None)]]  # one trial after the first leaver, one after the next
    asked: list[int] = []  # members that had left when admit was asked

    def admit():  # as the searcher offers: only once a member has left
        asked.append(sum(any(r.get("left") for r in rs) for rs in reports.values()))
        return offers.pop(0) if offers and asked[-1] else []

    reports: dict[int, list] = {i: [] for i in range(4)}
    states: dict[int, list] = {i: [] for i in range(4)}
    run_pack([cfgs[0], cfgs[2]], lambda i, m: reports[i].append(m), lambda i, s: states[i].append(_saved(s)),
             admit=admit)
    # asked at the start (what a retried pack was offered before its worker went away), then after leavers
    assert asked[0] == 0 and asked == sorted(asked) and len(asked) >= 3
    # members 0 (rte) and 1 (cola) as before; ATTEMPT (boolq) joined as member 2, SuperPos (sst2) as 3
    for index, member in ((0, 0), (1, 2), (2, 3), (3, 1)):
        _assert_same(alone[member], (reports[index], states[index]), method=MEMBERS[member]["method"])
        assert reports[index][-1]["left"] == "complete"
